/**
 * P0-2: DATABASE POOL EXHAUSTION
 * Detection: Pool utilization >90% (5 min)
 * Actions:
 *   1. Check pool: GET <api>/api/monitoring/pool-config (cross-checked with pg_stat_activity)
 *   2. Kill idle connections: the seed's pg_terminate_backend query (idle > 5 minutes), narrowed to the
 *      application's database and roles (the worker's ACCUBOOKS_DB_ROLES), never the runbook's own
 *      session. "0 idle sessions older than 5 minutes" and "no session matched the roles" (a role
 *      setting that terminates nothing) are told apart, in the step, the state and the outcome.
 *   3. Restart: docker restart accubooks-api (through the target guard)
 *   4. Verify: Pool <70%
 * Escalate if: Pool remains >80%
 *
 * "Remains" is measured after the restart: above 80 % continuously for the policy's window (5 min).
 * The incident resolves when the pool stays below 70 % for the policy's window; the report says how
 * many sessions were terminated and the utilization before and after.
 */
import { checks } from './activity-proxies';
import { failureType, Incident, withSummary } from './incident';
import { minutes, pct, Streak, verifyLoop, type SampleVerdict } from './verify-loop';
import { poolExhaustionDefaults, type PoolExhaustionPolicy } from '../definitions/policies/pool-exhaustion';
import { withDefaults } from '../definitions/policies/gate-policy';
import { guardedCheck, restartTarget } from './guarded-actions';
import type { IncidentInput, IncidentState } from '../definitions/types';
import type { IdleTermination } from '../activities/postgres';
import type { PoolReport } from '../definitions/observations';

const TIER = 'engineering lead (CTO)';

const describePool = (p: PoolReport) =>
  `${pct(p.api.utilization)} (${p.api.inUse}/${p.api.max} in use, ${p.api.waiting} waiting); ${p.note}`;

/** What "Kill idle connections" did, with "none older than the threshold" apart from "none matched". */
export function describeKill(r: IdleTermination, idleForMs: number): string {
  const roles = `role${r.roles.length > 1 ? 's' : ''} ${r.roles.join(', ')}`;
  if (r.count > 0) {
    return `${r.count} idle sessions terminated (pids ${r.terminated.map((t) => t.pid).join(', ')})`;
  }
  // Older results (before the roles were reported) carry only the count.
  if (r.matchedSessions === undefined) return '0 idle sessions terminated';
  if (r.matchedSessions === 0) {
    return (
      `none matched the ${roles}: no session of ${r.roles.length > 1 ? 'these roles' : 'this role'} in the database, ` +
      `nothing terminated (check ACCUBOOKS_DB_ROLES)` +
      (r.idleOtherRoles
        ? `; ${r.idleOtherRoles} sessions of other roles idle > ${minutes(idleForMs)} left alone`
        : '')
    );
  }
  return `0 idle sessions older than ${minutes(idleForMs)} (of ${r.matchedSessions} sessions of ${roles})`;
}

/** One run of the runbook: what its steps share. */
interface Run {
  inc: Incident;
  policy: PoolExhaustionPolicy;
  target: string;
  incidentId: string;
  /** The application's roles come from the worker's configuration (ACCUBOOKS_DB_ROLES). */
  scope: { applicationName: string | undefined };
}

export async function poolExhaustion(input: IncidentInput<PoolExhaustionPolicy>): Promise<IncidentState> {
  const policy = withDefaults(poolExhaustionDefaults, input.policy);
  const inc = new Incident(
    { runbook: 'P0-2', name: 'Database pool exhaustion', severity: 'P0' },
    input,
    policy,
  );
  const run: Run = {
    inc,
    policy,
    target: input.target,
    incidentId: input.incidentId,
    scope: { applicationName: policy.applicationName },
  };
  // A person's resolve counts only with the pool under the verification line (70 %).
  inc.endStateCheck = async () => {
    const p = await poolCheck(run, `Check pool of ${run.target}`);
    const ok = p.api.utilization < policy.verifyBelow;
    return { ok, detail: `pool ${pct(p.api.utilization)} ${ok ? '<' : '≥'} ${pct(policy.verifyBelow)}` };
  };

  const before = await checkPool(run); // 1. Check pool
  if (before && before.api.utilization < policy.verifyBelow) return alreadyBelow(run, before);
  inc.setStatus('remediating');
  const killed = await killIdleConnections(run); // 2. Kill idle connections
  report(run, killed?.count, undefined);
  await restartApi(run, before, killed); // 3. Restart

  // 4. Verify: pool < 70 %; escalate if it remains > 80 %.
  const end = await verifyPool(run, killed);
  if (end.end === 'closed-by-human') return inc.finishByHuman();
  if (end.end === 'gave-up')
    return inc.finish('abandoned', 'abandoned: the pool stayed high past the give-up window');
  const noneMatched = killed?.matchedSessions === 0;
  // Recorded by verifyPool before it reports the pool resolved.
  const r = inc.state.checks.report!;
  return inc.finish(
    'resolved',
    `Pool ${pct(r.utilizationBefore)} -> ${pct(r.utilizationAfter)}; ${noneMatched ? `no session matched the role(s) ${killed.roles.join(', ')}, nothing terminated` : `${killed?.count ?? 'unknown number of'} idle sessions terminated`}; restarted`,
  );
}

const poolCheck = ({ policy, target, scope }: Run, summary: string) =>
  withSummary(checks.checkPool, summary, { ...scope, target, timeoutMs: policy.poolCheckTimeoutMs });

/** The outcome's numbers: sessions terminated, utilization before and after. */
function report({ inc }: Run, terminated: number | undefined, after: PoolReport | undefined): void {
  inc.state.checks.report = {
    terminated: terminated ?? null,
    utilizationBefore: inc.state.checks.poolBefore?.api.utilization ?? null,
    utilizationAfter: after?.api.utilization ?? null,
  };
}

/** 1. Check pool: GET <api>/api/monitoring/pool-config, cross-checked with pg_stat_activity. */
async function checkPool(run: Run): Promise<PoolReport | undefined> {
  const { inc } = run;
  const before = await inc.check(
    'check-pool',
    '1. Check pool',
    () => poolCheck(run, `Check pool of ${run.target}`),
    describePool,
  );
  if (before) {
    inc.state.checks.poolBefore = before;
    if (!before.consistent) inc.decide(`Pool cross-check disagrees: ${before.note}`);
  }
  return before;
}

/** The pool is already below the verification line at the first check: nothing to do. */
function alreadyBelow(run: Run, before: PoolReport): Promise<IncidentState> {
  const { inc, policy } = run;
  inc.skip(
    'kill-idle',
    '2. Kill idle connections',
    `pool at ${pct(before.api.utilization)} at the first check`,
  );
  inc.skip('restart', '3. Restart', `pool at ${pct(before.api.utilization)} at the first check`);
  report(run, 0, before);
  return inc.finish(
    'resolved',
    `Pool at ${pct(before.api.utilization)} (< ${pct(policy.verifyBelow)}) at the first check; nothing terminated or restarted`,
  );
}

/** 2. Kill idle connections (idle > 5 minutes), the application's sessions only. */
async function killIdleConnections({ inc, policy, target, incidentId, scope }: Run) {
  const killed = await guardedCheck(
    inc,
    target,
    'terminateIdleSessions',
    {
      name: 'kill-idle',
      title: `2. Kill idle connections (idle > ${minutes(policy.idleTerminateAfterMs)})`,
      reason: `P0-2 ${incidentId}`,
      summary: `Terminate the application's sessions idle > ${minutes(policy.idleTerminateAfterMs)}`,
      describe: (r) => describeKill(r, policy.idleTerminateAfterMs),
    },
    { ...scope, idleForMs: policy.idleTerminateAfterMs, reason: `P0-2 ${incidentId}` },
  );
  if (killed) {
    inc.state.checks.terminated = killed.count;
    inc.state.checks.terminatedSessions = killed.terminated.slice(0, 100);
    inc.state.checks.killScope = {
      roles: killed.roles,
      applicationName: policy.applicationName ?? null,
      matchedSessions: killed.matchedSessions ?? null,
      idleOtherRoles: killed.idleOtherRoles ?? null,
      result: describeKill(killed, policy.idleTerminateAfterMs),
    };
    if (killed.matchedSessions === 0)
      inc.decide(
        `Kill idle connections matched nothing: ${describeKill(killed, policy.idleTerminateAfterMs)}`,
      );
  }
  return killed;
}

/** 3. Restart: the app still counts the clients it checked out until it restarts. */
async function restartApi(
  { inc, policy, target, incidentId }: Run,
  before: PoolReport | undefined,
  killed: IdleTermination | undefined,
): Promise<void> {
  inc.decide(
    `Restart: pool ${before ? `at ${pct(before.api.utilization)}` : 'could not be read'}; ` +
      `${killed ? describeKill(killed, policy.idleTerminateAfterMs) : 'idle sessions could not be terminated'}; ` +
      'the API keeps its checked-out clients until it restarts',
  );
  try {
    const restart = await restartTarget(inc, target, {
      title: '3. Restart',
      reason: `P0-2 ${incidentId}`,
      stopTimeoutSec: policy.stopTimeoutSec,
    });
    if (!restart.done) {
      inc.decide(`Restart refused: ${restart.refusedBecause}`);
      await inc.escalate(`Cannot restart ${target}: ${restart.refusedBecause}`, TIER);
    }
  } catch (err) {
    const why =
      failureType(err) === 'CONTAINER_NOT_FOUND'
        ? `container ${target} does not exist`
        : 'the restart failed';
    inc.decide(`Cannot restart: ${why}; watching the pool and escalating if it stays high`);
    await inc.escalate(`Cannot restart ${target}: ${why}`, TIER);
  }
}

/** What the verification tracks between samples for "Escalate if: pool remains > 80 %". */
interface Remains {
  above: Streak;
  escalated: boolean;
  last: PoolReport | undefined;
}

/** 4. Verify: pool < 70 % for the window; escalate if it remains > 80 %. */
async function verifyPool(run: Run, killed: IdleTermination | undefined) {
  const { inc, policy, target, scope } = run;
  const remains: Remains = { above: new Streak(), escalated: false, last: undefined };
  const end = await inc.step(
    'verify',
    `4. Verify: pool < ${pct(policy.verifyBelow)} for ${minutes(policy.resolveWindowMs)}`,
    () =>
      verifyLoop(inc, {
        name: 'verify-pool',
        summary: `Verify: pool < ${pct(policy.verifyBelow)} for ${minutes(policy.resolveWindowMs)}`,
        // Sampled in one activity that comes back only when "< 70 %" or "> 80 %" changes (or a deadline).
        watch: {
          what: `pool of ${target}`,
          probes: () => ({
            pool: { kind: 'pool', input: { ...scope, target, timeoutMs: policy.poolCheckTimeoutMs } },
          }),
          pick: (s) => s.pool as PoolReport,
          react: () => ({
            ok: { path: 'pool.api.utilization', op: '<', value: policy.verifyBelow },
            above: remains.escalated
              ? { never: true }
              : { path: 'pool.api.utilization', op: '>', value: policy.escalateAbove },
          }),
        },
        resolveWindowMs: policy.resolveWindowMs,
        sampleIntervalMs: policy.sampleIntervalMs,
        maxSampleIntervalMs: policy.maxSampleIntervalMs,
        assumed: {
          condition: `pool < ${pct(policy.verifyBelow)} for ${minutes(policy.resolveWindowMs)}`,
          sample: assumedPool,
        },
        unmeasured: { afterMs: policy.unmeasuredEscalateAfterMs, tier: TIER, what: 'The pool' },
        judge: (p) => judgePool(run, remains, killed, p),
      }),
    (e) => (e.end === 'resolved' ? `pool ${pct(e.last.api.utilization)}, held ${minutes(e.heldMs)}` : e.end),
  );
  report(run, killed?.count, remains.last);
  return end;
}

/** The pool a dry run assumes once the fix worked (nothing read): empty. */
const assumedPool = (): PoolReport => ({
  api: { max: 0, total: 0, idle: 0, inUse: 0, waiting: 0, utilization: 0 },
  database: { total: 0, idle: 0, active: 0, idleInTransaction: 0, other: 0 },
  consistent: true,
  note: 'dry run: assumed, not read',
  checkedAt: new Date().toISOString(),
});

/** One verification sample: "remains > 80 %" escalates once; "< 70 %" counts toward resolving. */
async function judgePool(
  run: Run,
  remains: Remains,
  killed: IdleTermination | undefined,
  p: PoolReport,
): Promise<SampleVerdict> {
  const { inc, policy } = run;
  remains.last = p;
  inc.state.checks.pool = p;
  const u = p.api.utilization;
  remains.above.update(u > policy.escalateAbove);
  inc.state.checks.aboveEscalationSince = remains.above.sinceIso ?? null;
  if (!remains.escalated && remains.above.heldFor() >= policy.remainsAboveForMs) {
    remains.escalated = true;
    await inc.escalate(
      `Pool remains > ${pct(policy.escalateAbove)} (${pct(u)}) for ${minutes(policy.remainsAboveForMs)} after the restart`,
      TIER,
    );
  }
  report(run, killed?.count, p);
  return {
    ok: u < policy.verifyBelow,
    nextWithinMs: remains.escalated ? undefined : remains.above.remaining(policy.remainsAboveForMs),
  };
}
