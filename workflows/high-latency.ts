/**
 * P1-2: HIGH LATENCY
 * Detection: p95 latency >1s (5 min)
 * Actions:
 *   1. Check slow queries: the application's active queries running > 5 seconds (pid, duration,
 *      query text truncated, literals masked)
 *   2. Check pool utilization: Should be <70%
 *   3. Check Redis hit rate: Should be >70%
 *   4. Kill slow queries if needed: cancel first, terminate what cancel did not end (application's
 *      sessions only)
 * Escalate if: Latency >2s or not resolved in 2 hours
 *
 * p95 comes from Prometheus (PromQL in the policy). While p95 stays above the detection level and new
 * slow queries appear, they are killed again, up to the policy's rounds. The incident resolves when
 * p95 stays below the detection level for the policy's window.
 */
import { checks } from './activity-proxies';
import { Incident, withSummary } from './incident';
import { metricEndState } from './end-state';
import {
  assumedMetric,
  measure,
  minutes,
  pct,
  secs,
  verifyLoop,
  type SampleVerdict,
  type WatchSpec,
} from './verify-loop';
import { highLatencyDefaults, type HighLatencyPolicy } from '../definitions/policies/high-latency';
import { withDefaults } from '../definitions/policies/gate-policy';
import { guardedCheck } from './guarded-actions';
import type { IncidentInput, IncidentState } from '../definitions/types';
import type { KillResult } from '../activities/postgres';
import type { SlowQuery } from '../definitions/observations';
import type { MetricSample } from '../activities/prometheus';

/** A p95 sample; watched ones carry the slow queries listed with it (while kill rounds remain). */
type WatchedP95 = MetricSample & { slow?: SlowQuery[]; slowError?: string };

const TIER = 'engineering lead';

const describeKill = (verb: string) => (r: KillResult) =>
  `${verb} ${r.signalled.length} (pids ${r.signalled.join(', ') || '-'}); ended ${r.ended.length}; still running ${r.stillRunning.length}; skipped ${r.skipped.length}`;

/** One run of the runbook: what its steps share. */
interface Run {
  inc: Incident;
  policy: HighLatencyPolicy;
  target: string;
  /** The application's roles come from the worker's configuration (ACCUBOOKS_DB_ROLES). */
  scope: { applicationName: string | undefined };
  /** The "> 2 s" page went out (it pages once). */
  escalatedLatency: boolean;
  /** The kill rounds so far and the pids they ended (also in the state as `checks.killed`). */
  killed: { rounds: number; cancelled: number[]; terminated: number[] };
}

export async function highLatency(input: IncidentInput<HighLatencyPolicy>): Promise<IncidentState> {
  const policy = withDefaults(highLatencyDefaults, input.policy);
  const inc = new Incident({ runbook: 'P1-2', name: 'High latency', severity: 'P1' }, input, policy);
  const run: Run = {
    inc,
    policy,
    target: input.target,
    scope: { applicationName: policy.applicationName },
    escalatedLatency: false,
    killed: { rounds: 0, cancelled: [], terminated: [] },
  };

  // Escalate if: not resolved in 2 hours (a durable timer alongside everything below).
  inc.escalateAfter(
    policy.escalateAfterMs,
    `Escalate if not resolved in ${minutes(policy.escalateAfterMs)}`,
    TIER,
  );
  // A person's resolve counts only with p95 under the detection line (1 s).
  inc.endStateCheck = metricEndState(secs, () => measureP95(run), policy.detectionP95Seconds);
  inc.state.checks.killed = run.killed;

  const first = await checkP95(run);
  inc.setStatus('remediating');
  const slow = await checkSlowQueries(run); // 1. Check slow queries
  await checkPoolUtilization(run); // 2. Check pool utilization: should be < 70 %
  await checkRedisHitRate(run); // 3. Check Redis hit rate: should be > 70 %
  await killSlowQueriesIfNeeded(run, first?.value ?? null, slow); // 4. Kill slow queries if needed

  // Verify: p95 below the detection level for the window; > 2 s escalates; new slow queries are killed again.
  const end = await verifyP95(run);
  if (end.end === 'closed-by-human') return inc.finishByHuman();
  if (end.end === 'gave-up')
    return inc.finish('abandoned', 'abandoned: latency stayed high past the give-up window');
  return inc.finish(
    'resolved',
    `p95 ${secs(end.last.value)} (< ${secs(policy.detectionP95Seconds)}) for ${minutes(end.heldMs)}; ` +
      `${run.killed.cancelled.length} queries cancelled, ${run.killed.terminated.length} terminated`,
  );
}

const measureP95 = ({ policy, target }: Run) =>
  withSummary(checks.queryMetric, `p95 latency of ${target} (Prometheus)`, {
    name: 'p95 latency',
    query: policy.p95Query,
    target,
    window: policy.rateWindow,
  });

const listSlow = ({ policy, scope }: Run, summary: string) =>
  withSummary(checks.listSlowQueries, summary, { ...scope, minDurationMs: policy.slowQueryMs });

/** Escalate if: latency > 2 s (judged at every sample; pages once). */
async function judgeP95(run: Run, p95: number | null): Promise<void> {
  run.inc.state.checks.p95Seconds = p95;
  if (p95 !== null && p95 > run.policy.escalateP95Seconds && !run.escalatedLatency) {
    run.escalatedLatency = true;
    await run.inc.escalate(`p95 latency ${secs(p95)} > ${secs(run.policy.escalateP95Seconds)}`, TIER);
  }
}

/** p95 before the actions (the detection's own measure). */
async function checkP95(run: Run): Promise<MetricSample | undefined> {
  const first = await run.inc.check(
    'p95',
    'Measure p95 latency',
    () => measureP95(run),
    (s) => `${secs(s.value)} over ${run.policy.rateWindow}`,
  );
  if (first) await judgeP95(run, first.value);
  return first;
}

/** 1. Check slow queries: the application's active queries running > 5 seconds. */
async function checkSlowQueries(run: Run): Promise<SlowQuery[] | undefined> {
  const { inc, policy } = run;
  const slow = await inc.check(
    'check-slow-queries',
    `1. Check slow queries (active > ${Math.round(policy.slowQueryMs / 1000)} s)`,
    () => listSlow(run, `Active application queries running > ${Math.round(policy.slowQueryMs / 1000)} s`),
    (q) =>
      q.length === 0
        ? 'none'
        : `${q.length}: ${q
            .slice(0, 5)
            .map((x) => `pid ${x.pid} ${Math.round(x.durationMs / 1000)} s "${x.query}"`)
            .join('; ')}`,
  );
  if (slow) inc.state.checks.slowQueries = slow.slice(0, 20);
  return slow;
}

/** 2. Check pool utilization: should be < 70 %. */
async function checkPoolUtilization({ inc, policy, target, scope }: Run): Promise<void> {
  const pool = await inc.check(
    'check-pool',
    `2. Check pool utilization (< ${pct(policy.poolUtilizationBelow)})`,
    () =>
      withSummary(checks.checkPool, `Check pool of ${target}`, {
        ...scope,
        target,
        timeoutMs: policy.poolCheckTimeoutMs,
      }),
    (p) => `${pct(p.api.utilization)} (${p.api.inUse}/${p.api.max}, ${p.api.waiting} waiting)`,
  );
  if (pool) {
    inc.state.checks.pool = pool;
    if (pool.api.utilization >= policy.poolUtilizationBelow) {
      inc.decide(
        `Pool utilization ${pct(pool.api.utilization)} is not below ${pct(policy.poolUtilizationBelow)}`,
      );
    }
  }
}

/** 3. Check Redis hit rate: should be > 70 %. */
async function checkRedisHitRate({ inc, policy }: Run): Promise<void> {
  const hit = await inc.check(
    'check-redis-hit-rate',
    `3. Check Redis hit rate (> ${pct(policy.redisHitRateAbove)})`,
    () =>
      withSummary(checks.redisHitRate, 'Redis INFO stats: keyspace hits / (hits + misses)', {
        sampleMs: policy.hitRateSampleMs,
      }),
    (h) => `${pct(h.hitRate)} (${h.basis}: ${h.hits} hits, ${h.misses} misses)`,
  );
  if (hit) {
    inc.state.checks.redisHitRate = hit;
    if (hit.hitRate !== null && hit.hitRate <= policy.redisHitRateAbove) {
      inc.decide(
        `Redis hit rate ${pct(hit.hitRate)} is not above ${pct(policy.redisHitRateAbove)}: the cache is not absorbing reads`,
      );
    }
  }
}

/** 4. Kill slow queries if needed: there are some, and p95 is not known to be below the line. */
async function killSlowQueriesIfNeeded(
  run: Run,
  p95: number | null,
  slow: SlowQuery[] | undefined,
): Promise<void> {
  const { inc, policy } = run;
  if (slow && slow.length > 0 && (p95 === null || p95 >= policy.detectionP95Seconds)) {
    inc.decide(
      `Kill: ${slow.length} queries run longer than ${Math.round(policy.slowQueryMs / 1000)} s while p95 is ${secs(p95)}`,
    );
    await kill(run, slow);
  } else {
    const why = !slow
      ? 'slow queries could not be listed'
      : slow.length === 0
        ? `no query runs longer than ${Math.round(policy.slowQueryMs / 1000)} s`
        : `p95 is ${secs(p95)}, already below ${secs(policy.detectionP95Seconds)}`;
    inc.skip('kill', '4. Kill slow queries if needed', why);
    inc.decide(`No kill: ${why}`);
  }
}

/** 4. Kill slow queries: cancel first; terminate those cancel did not end. */
async function kill({ inc, policy, target, scope, killed }: Run, slow: SlowQuery[]): Promise<void> {
  killed.rounds++;
  const round = killed.rounds;
  const cancel = await guardedCheck(
    inc,
    target,
    'cancelQueries',
    {
      name: `cancel-${round}`,
      title: `4. Kill slow queries: cancel ${slow.length} (round ${round}/${policy.maxKillRounds})`,
      reason: `P1-2 ${inc.state.incidentId}: ${slow.length} slow queries`,
      summary: `pg_cancel_backend on ${slow.length} slow queries`,
      describe: describeKill('cancelled'),
    },
    { ...scope, queries: slow, graceMs: policy.cancelGraceMs },
  );
  if (!cancel) return;
  killed.cancelled.push(...cancel.ended);
  if (cancel.stillRunning.length === 0) return;
  inc.decide(
    `${cancel.stillRunning.length} queries still running ${Math.round(policy.cancelGraceMs / 1000)} s after cancel: terminating their sessions`,
  );
  const term = await guardedCheck(
    inc,
    target,
    'terminateQueries',
    {
      name: `terminate-${round}`,
      title: `4. Kill slow queries: terminate ${cancel.stillRunning.length} that cancel did not end`,
      reason: `P1-2 ${inc.state.incidentId}: cancel did not end ${cancel.stillRunning.length} queries`,
      summary: `pg_terminate_backend on ${cancel.stillRunning.length} queries`,
      describe: describeKill('terminated'),
    },
    { ...scope, queries: cancel.stillRunning, graceMs: policy.terminateGraceMs },
  );
  if (term) killed.terminated.push(...term.ended);
}

/** Verify: p95 stays below the detection level for the window. */
function verifyP95(run: Run) {
  const { inc, policy } = run;
  const summary = `Verify: p95 < ${secs(policy.detectionP95Seconds)} for ${minutes(policy.resolveWindowMs)}`;
  return inc.step(
    'verify',
    summary,
    () =>
      verifyLoop(inc, {
        name: 'p95',
        summary,
        watch: watchP95(run),
        resolveWindowMs: policy.resolveWindowMs,
        sampleIntervalMs: policy.sampleIntervalMs,
        maxSampleIntervalMs: policy.maxSampleIntervalMs,
        assumed: {
          condition: `p95 < ${secs(policy.detectionP95Seconds)} for ${minutes(policy.resolveWindowMs)}`,
          sample: () => ({ ...assumedMetric('p95 latency'), slow: [] }),
        },
        judge: (s: WatchedP95) => judgeSample(run, s),
      }),
    (e) => (e.end === 'resolved' ? `p95 ${secs(e.last.value)}, held ${minutes(e.heldMs)}` : e.end),
  );
}

/**
 * Sampled in one activity that comes back when "< 1 s" or "> 2 s" changes, or when new slow
 * queries run while p95 is high and kill rounds remain (or a deadline).
 */
function watchP95(run: Run): WatchSpec<WatchedP95> {
  const { policy, target, scope, killed } = run;
  return {
    what: `p95 latency of ${target}`,
    probes: () => ({
      p95: {
        kind: 'metric',
        input: { name: 'p95 latency', query: policy.p95Query, target, window: policy.rateWindow },
      },
      ...(killed.rounds < policy.maxKillRounds
        ? {
            slow: {
              kind: 'slowQueries' as const,
              input: { ...scope, minDurationMs: policy.slowQueryMs },
              onlyWhen: {
                not: { path: 'p95.value', op: '<' as const, value: policy.detectionP95Seconds },
              },
            },
          }
        : {}),
    }),
    pick: (s) => ({
      ...(s.p95 as MetricSample),
      slow: (s.slow as SlowQuery[] | undefined) ?? [],
      slowError: s.slowError as string | undefined,
    }),
    react: () => ({
      ok: { path: 'p95.value', op: '<', value: policy.detectionP95Seconds },
      above: run.escalatedLatency
        ? { never: true }
        : { path: 'p95.value', op: '>', value: policy.escalateP95Seconds },
    }),
    returnWhen: () =>
      killed.rounds < policy.maxKillRounds ? { path: 'slow.length', op: '>', value: 0 } : undefined,
  };
}

/** One verification sample: the > 2 s rule, then new slow queries are killed while rounds remain. */
async function judgeSample(run: Run, s: WatchedP95): Promise<SampleVerdict> {
  const { inc, policy, killed } = run;
  await judgeP95(run, s.value);
  const ok = s.value !== null && s.value < policy.detectionP95Seconds;
  if (!ok && killed.rounds < policy.maxKillRounds) {
    // Watched samples bring the slow queries with them; the pre-watch loop lists them here.
    if (s.slowError) inc.state.failing['check-slow-queries'] = s.slowError;
    const again =
      s.slow !== undefined
        ? s.slow
        : await measure(inc, 'check-slow-queries', () => listSlow(run, 'Re-check slow queries'));
    if (again && again.length > 0) {
      inc.state.checks.slowQueries = again.slice(0, 20);
      inc.decide(`Kill again: ${again.length} new slow queries while p95 is ${secs(s.value)}`);
      await kill(run, again);
    }
  }
  return { ok };
}
