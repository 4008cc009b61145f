/**
 * P1-1: HIGH ERROR RATE
 * Detection: Error rate >1% (5 min)
 * Actions:
 *   1. Check logs: docker logs accubooks-api --tail 200
 *   2. Check database: SELECT 1
 *   3. Check Redis: PING
 *   4. Restart if needed: docker restart accubooks-api (through the target guard)
 * Escalate if: Error rate >5% or not resolved in 1 hour
 *
 * The error rate comes from Prometheus (PromQL in the policy). "If needed" is decided from the checks
 * and explained in the state: a restart cannot fix a database or Redis that does not answer, and is
 * not needed when the error rate is already below the detection level. It is not decided once:
 * while the error rate stays at or above the detection level, the decision is reconsidered every
 * `reconsiderRestartAfterMs` (database and Redis checked again), up to the policy's `maxRestarts`
 * restarts, each through the target guard (whose crash-loop budget may refuse one: then the next
 * reconsideration asks again). The incident resolves when the error rate stays below the detection
 * level for the policy's window.
 */
import { checks } from './activity-proxies';
import { failureType, Incident, withSummary } from './incident';
import { metricEndState } from './end-state';
import { assumedMetric, minutes, pct, verifyLoop } from './verify-loop';
import { highErrorRateDefaults, type HighErrorRatePolicy } from '../definitions/policies/high-error-rate';
import { withDefaults } from '../definitions/policies/gate-policy';
import { restartTarget } from './guarded-actions';
import type { IncidentInput, IncidentState } from '../definitions/types';
import type { MetricSample } from '../activities/prometheus';

const TIER = 'engineering lead';

export interface RestartInputs {
  /** Error rate 0..1, or null when it could not be measured. */
  errorRate: number | null;
  detectionErrorRate: number;
  /** undefined: the check could not run at all. */
  databaseOk: boolean | undefined;
  redisOk: boolean | undefined;
  /** Error lines among the last log lines, when the logs could be read. */
  logErrorLines: number | undefined;
}

/** "Restart if needed", as a rule the state can explain. Pure, so it is tested on its own too. */
export function restartNeeded(i: RestartInputs): { restart: boolean; why: string } {
  if (i.databaseOk === false) {
    return {
      restart: false,
      why: 'the database does not answer SELECT 1: restarting the API cannot fix that',
    };
  }
  if (i.redisOk === false) {
    return { restart: false, why: 'Redis does not answer PING: restarting the API cannot fix that' };
  }
  if (i.errorRate === null) {
    if ((i.logErrorLines ?? 0) > 0) {
      return {
        restart: true,
        why: `the error rate cannot be measured, and the logs show ${i.logErrorLines} error lines while the database and Redis answer`,
      };
    }
    return { restart: false, why: 'the error rate cannot be measured and the logs show no errors: watching' };
  }
  if (i.errorRate < i.detectionErrorRate) {
    return {
      restart: false,
      why: `the error rate is ${pct(i.errorRate)}, already below ${pct(i.detectionErrorRate)}: watching`,
    };
  }
  return {
    restart: true,
    why: `the error rate is ${pct(i.errorRate)} (>= ${pct(i.detectionErrorRate)}) while the database and Redis answer: the fault is in the API`,
  };
}

/** One run of the runbook: what its steps share. */
interface Run {
  inc: Incident;
  policy: HighErrorRatePolicy;
  target: string;
  incidentId: string;
  /** The "> 5 %" page went out (it pages once). */
  escalatedRate: boolean;
  /** Restarts made so far (at most `policy.maxRestarts`). */
  restarts: number;
  /** False once the container turned out not to exist. */
  canRestart: boolean;
  /** When "restart if needed" was last decided. */
  decidedAt: number;
}

export async function highErrorRate(input: IncidentInput<HighErrorRatePolicy>): Promise<IncidentState> {
  const policy = withDefaults(highErrorRateDefaults, input.policy);
  const inc = new Incident({ runbook: 'P1-1', name: 'High error rate', severity: 'P1' }, input, policy);
  const run: Run = {
    inc,
    policy,
    target: input.target,
    incidentId: input.incidentId,
    escalatedRate: false,
    restarts: 0,
    canRestart: true,
    decidedAt: 0,
  };

  // Escalate if: not resolved in 1 hour (a durable timer alongside everything below).
  inc.escalateAfter(
    policy.escalateAfterMs,
    `Escalate if not resolved in ${minutes(policy.escalateAfterMs)}`,
    TIER,
  );
  // A person's resolve counts only with the error rate under the detection line (1 %).
  inc.endStateCheck = metricEndState(pct, () => measureRate(run), policy.detectionErrorRate);

  const first = await checkErrorRate(run);
  inc.setStatus('remediating');
  const logs = await checkLogs(run); // 1. Check logs
  const db = await checkDatabase(run, '2. Check database (SELECT 1)');
  const redis = await checkRedis(run, '3. Check Redis (PING)');
  // 4. Restart if needed (reconsidered while verifying, as long as the error rate stays high)
  run.decidedAt = Date.now();
  await restartIfNeeded(
    run,
    restartNeeded({
      errorRate: first?.value ?? null,
      detectionErrorRate: policy.detectionErrorRate,
      databaseOk: db?.ok,
      redisOk: redis?.ok,
      logErrorLines: logs?.errorLines,
    }),
  );

  // Verify: error rate below the detection level for the window; > 5 % escalates meanwhile.
  const end = await verifyErrorRate(run);
  if (end.end === 'closed-by-human') return inc.finishByHuman();
  if (end.end === 'gave-up')
    return inc.finish('abandoned', 'abandoned: errors persisted past the give-up window');
  const restarts = run.restarts;
  return inc.finish(
    'resolved',
    `Error rate ${pct(end.last.value)} (< ${pct(policy.detectionErrorRate)}) for ${minutes(end.heldMs)}${restarts === 0 ? ' without a restart' : restarts === 1 ? ' after a restart' : ` after ${restarts} restarts`}`,
  );
}

const measureRate = (run: Run) =>
  withSummary(checks.queryMetric, `Error rate of ${run.target} (Prometheus)`, {
    name: 'error rate',
    query: run.policy.errorRateQuery,
    target: run.target,
    window: run.policy.rateWindow,
  });

/** Escalate if: error rate > 5 % (judged at every sample; pages once). */
async function judgeRate(run: Run, rate: number | null): Promise<void> {
  run.inc.state.checks.errorRate = rate;
  if (rate !== null && rate > run.policy.escalateErrorRate && !run.escalatedRate) {
    run.escalatedRate = true;
    await run.inc.escalate(`Error rate ${pct(rate)} > ${pct(run.policy.escalateErrorRate)}`, TIER);
  }
}

/** The error rate before the actions (the detection's own measure). */
async function checkErrorRate(run: Run): Promise<MetricSample | undefined> {
  const first = await run.inc.check(
    'error-rate',
    'Measure error rate',
    () => measureRate(run),
    (s) => `${pct(s.value)} over ${run.policy.rateWindow}`,
  );
  if (first) await judgeRate(run, first.value);
  return first;
}

/** 1. Check logs: docker logs accubooks-api --tail 200 */
async function checkLogs({ inc, policy, target }: Run) {
  const logs = await inc.check(
    'check-logs',
    `1. Check logs (last ${policy.logLines} lines)`,
    () =>
      withSummary(checks.tailContainerLogs, `docker logs ${target} --tail ${policy.logLines}`, {
        container: target,
        lines: policy.logLines,
      }),
    (l) => `${l.lines.length} lines, ${l.errorLines} with errors; container ${l.state.status}`,
  );
  if (logs) {
    inc.state.checks.logs = {
      excerpt: logs.lines.filter((l) => /error|fatal/i.test(l)).slice(-10),
      lineCount: logs.lines.length,
      errorLines: logs.errorLines,
    };
  }
  return logs;
}

/** 2. Check database: SELECT 1 (again when the restart is reconsidered). */
async function checkDatabase({ inc, policy }: Run, title: string) {
  const db = await inc.check(
    'check-database',
    title,
    () =>
      withSummary(checks.checkDatabase, 'SELECT 1 on the application database', {
        timeoutMs: policy.dbTimeoutMs,
      }),
    (d) => (d.ok ? `ok in ${d.latencyMs} ms` : `failed: ${d.error}`),
  );
  if (db) inc.state.checks.database = db;
  return db;
}

/** 3. Check Redis: PING (again when the restart is reconsidered). */
async function checkRedis({ inc, policy }: Run, title: string) {
  const redis = await inc.check(
    'check-redis',
    title,
    () => withSummary(checks.pingRedis, 'redis-cli ping', { timeoutMs: policy.redisTimeoutMs }),
    (r) => (r.ok ? `${r.reply} in ${r.latencyMs} ms` : `failed: ${r.error ?? r.reply}`),
  );
  if (redis) inc.state.checks.redis = redis;
  return redis;
}

/** 4. Restart if needed: the first decision, from the checks. */
async function restartIfNeeded(run: Run, decision: { restart: boolean; why: string }): Promise<void> {
  const { inc, policy } = run;
  inc.decide(`${decision.restart ? 'Restart' : 'No restart'}: ${decision.why}`);
  if (decision.restart && policy.maxRestarts > 0) {
    await restart(run, decision.why);
  } else {
    inc.skip(
      'restart',
      '4. Restart if needed',
      decision.restart ? `the policy allows no restart (maxRestarts ${policy.maxRestarts})` : decision.why,
    );
  }
}

/** 4. Restart: docker restart accubooks-api, through the target guard. */
async function restart(run: Run, why: string): Promise<void> {
  const { inc, policy, target } = run;
  const n = run.restarts + 1;
  try {
    const out = await restartTarget(inc, target, {
      title: `4. Restart (${n}/${policy.maxRestarts})`,
      reason: `P1-1 ${run.incidentId}: ${why}`,
      stopTimeoutSec: policy.stopTimeoutSec,
    });
    if (out.done) run.restarts = n;
    else inc.decide(`Restart refused: ${out.refusedBecause}`);
  } catch (err) {
    if (failureType(err) === 'CONTAINER_NOT_FOUND') run.canRestart = false;
    inc.decide(
      `Restart failed: ${failureType(err) === 'CONTAINER_NOT_FOUND' ? `container ${target} does not exist` : 'see the step'}; watching`,
    );
  }
  inc.state.checks.restarts = run.restarts;
}

/**
 * "Restart if needed", again: the error rate is still at or above the detection level
 * `reconsiderRestartAfterMs` after the last decision. The database and Redis are checked again,
 * since a restart cannot fix either.
 */
async function reconsiderRestart(run: Run, rate: number): Promise<void> {
  const { inc, policy } = run;
  run.decidedAt = Date.now();
  const db = await checkDatabase(run, '2. Check database again (SELECT 1)');
  const redis = await checkRedis(run, '3. Check Redis again (PING)');
  const again = restartNeeded({
    errorRate: rate,
    detectionErrorRate: policy.detectionErrorRate,
    databaseOk: db?.ok,
    redisOk: redis?.ok,
    logErrorLines: undefined,
  });
  const since = `still at or above ${pct(policy.detectionErrorRate)} ${minutes(policy.reconsiderRestartAfterMs)} after the last decision`;
  inc.decide(
    `${again.restart ? `Restart ${run.restarts + 1}/${policy.maxRestarts}` : 'No restart'} (${since}): ${again.why}`,
  );
  if (again.restart) await restart(run, again.why);
  if (run.restarts >= policy.maxRestarts) {
    inc.decide(`No more restarts: ${run.restarts}/${policy.maxRestarts} made; watching and escalating`);
  }
}

/** Verify: the error rate stays below the detection level for the window. */
function verifyErrorRate(run: Run) {
  const { inc, policy, target } = run;
  const summary = `Verify: error rate < ${pct(policy.detectionErrorRate)} for ${minutes(policy.resolveWindowMs)}`;
  return inc.step(
    'verify',
    summary,
    () =>
      verifyLoop(inc, {
        name: 'error-rate',
        summary,
        // Sampled in one activity that comes back only when "< 1 %" or "> 5 %" changes (or a deadline).
        watch: {
          what: `error rate of ${target}`,
          probes: () => ({
            rate: {
              kind: 'metric',
              input: { name: 'error rate', query: policy.errorRateQuery, target, window: policy.rateWindow },
            },
          }),
          pick: (s) => s.rate as MetricSample,
          react: () => ({
            ok: { path: 'rate.value', op: '<', value: policy.detectionErrorRate },
            above: run.escalatedRate
              ? { never: true }
              : { path: 'rate.value', op: '>', value: policy.escalateErrorRate },
          }),
        },
        resolveWindowMs: policy.resolveWindowMs,
        sampleIntervalMs: policy.sampleIntervalMs,
        maxSampleIntervalMs: policy.maxSampleIntervalMs,
        assumed: {
          condition: `error rate < ${pct(policy.detectionErrorRate)} for ${minutes(policy.resolveWindowMs)}`,
          sample: () => assumedMetric('error rate'),
        },
        judge: (s) => judgeSample(run, s),
      }),
    (e) => (e.end === 'resolved' ? `error rate ${pct(e.last.value)}, held ${minutes(e.heldMs)}` : e.end),
  );
}

/** One verification sample: the > 5 % rule, then "restart if needed" once it is due again. */
async function judgeSample(run: Run, s: MetricSample): Promise<{ ok: boolean; nextWithinMs?: number }> {
  const { policy } = run;
  await judgeRate(run, s.value);
  const ok = s.value !== null && s.value < policy.detectionErrorRate;
  if (ok || s.value === null || !run.canRestart || run.restarts >= policy.maxRestarts) return { ok };
  const due = run.decidedAt + policy.reconsiderRestartAfterMs - Date.now();
  if (due > 0) return { ok, nextWithinMs: due };
  await reconsiderRestart(run, s.value);
  return { ok, nextWithinMs: policy.reconsiderRestartAfterMs };
}
