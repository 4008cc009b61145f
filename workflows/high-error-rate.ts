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
import { minutes, pct, verifyLoop } from './measured';
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

export async function highErrorRate(input: IncidentInput<HighErrorRatePolicy>): Promise<IncidentState> {
  const policy = withDefaults(highErrorRateDefaults, input.policy);
  const inc = new Incident({ runbook: 'P1-1', name: 'High error rate', severity: 'P1' }, input, policy);
  const target = input.target;

  // Escalate if: not resolved in 1 hour (a durable timer alongside everything below).
  inc.escalateAfter(
    policy.escalateAfterMs,
    `Escalate if not resolved in ${minutes(policy.escalateAfterMs)}`,
    TIER,
  );

  // Escalate if: error rate > 5 % (measured at every sample; pages once).
  let escalatedRate = false;
  const judgeRate = async (rate: number | null) => {
    inc.state.checks.errorRate = rate;
    if (rate !== null && rate > policy.escalateErrorRate && !escalatedRate) {
      escalatedRate = true;
      await inc.escalate(`Error rate ${pct(rate)} > ${pct(policy.escalateErrorRate)}`, TIER);
    }
  };
  const measureRate = (summary: string) =>
    withSummary(checks.queryMetric, summary, {
      name: 'error rate',
      query: policy.errorRateQuery,
      target,
      window: policy.rateWindow,
    });

  // A person's resolve counts only with the error rate under the detection line (1 %).
  inc.endStateCheck = metricEndState(
    pct,
    () => measureRate(`Error rate of ${target} (Prometheus)`),
    policy.detectionErrorRate,
  );

  const first = await inc.check(
    'error-rate',
    'Measure error rate',
    () => measureRate(`Error rate of ${target} (Prometheus)`),
    (s) => `${pct(s.value)} over ${policy.rateWindow}`,
  );
  if (first) await judgeRate(first.value);
  inc.setStatus('remediating');

  // 1. Check logs
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

  // 2. Check database: SELECT 1
  const db = await inc.check(
    'check-database',
    '2. Check database (SELECT 1)',
    () =>
      withSummary(checks.checkDatabase, 'SELECT 1 on the application database', {
        timeoutMs: policy.dbTimeoutMs,
      }),
    (d) => (d.ok ? `ok in ${d.latencyMs} ms` : `failed: ${d.error}`),
  );
  if (db) inc.state.checks.database = db;

  // 3. Check Redis: PING
  const redis = await inc.check(
    'check-redis',
    '3. Check Redis (PING)',
    () => withSummary(checks.pingRedis, 'redis-cli ping', { timeoutMs: policy.redisTimeoutMs }),
    (r) => (r.ok ? `${r.reply} in ${r.latencyMs} ms` : `failed: ${r.error ?? r.reply}`),
  );
  if (redis) inc.state.checks.redis = redis;

  // 4. Restart if needed (reconsidered below while the error rate stays high)
  let restarts = 0;
  let canRestart = true;
  let decidedAt = Date.now();
  const restart = async (why: string): Promise<void> => {
    const n = restarts + 1;
    try {
      const out = await restartTarget(inc, target, {
        title: `4. Restart (${n}/${policy.maxRestarts})`,
        reason: `P1-1 ${input.incidentId}: ${why}`,
        stopTimeoutSec: policy.stopTimeoutSec,
      });
      if (out.done) restarts = n;
      else inc.decide(`Restart refused: ${out.refusedBecause}`);
    } catch (err) {
      if (failureType(err) === 'CONTAINER_NOT_FOUND') canRestart = false;
      inc.decide(
        `Restart failed: ${failureType(err) === 'CONTAINER_NOT_FOUND' ? `container ${target} does not exist` : 'see the step'}; watching`,
      );
    }
    inc.state.checks.restarts = restarts;
  };
  const decision = restartNeeded({
    errorRate: first?.value ?? null,
    detectionErrorRate: policy.detectionErrorRate,
    databaseOk: db?.ok,
    redisOk: redis?.ok,
    logErrorLines: logs?.errorLines,
  });
  inc.decide(`${decision.restart ? 'Restart' : 'No restart'}: ${decision.why}`);
  if (decision.restart && policy.maxRestarts > 0) {
    await restart(decision.why);
  } else {
    inc.skip(
      'restart',
      '4. Restart if needed',
      decision.restart ? `the policy allows no restart (maxRestarts ${policy.maxRestarts})` : decision.why,
    );
  }

  /**
   * "Restart if needed", again: the error rate is still at or above the detection level
   * `reconsiderRestartAfterMs` after the last decision. The database and Redis are checked again,
   * since a restart cannot fix either.
   */
  const reconsider = async (rate: number): Promise<void> => {
    decidedAt = Date.now();
    const db2 = await inc.check(
      'check-database',
      '2. Check database again (SELECT 1)',
      () =>
        withSummary(checks.checkDatabase, 'SELECT 1 on the application database', {
          timeoutMs: policy.dbTimeoutMs,
        }),
      (d) => (d.ok ? `ok in ${d.latencyMs} ms` : `failed: ${d.error}`),
    );
    if (db2) inc.state.checks.database = db2;
    const redis2 = await inc.check(
      'check-redis',
      '3. Check Redis again (PING)',
      () => withSummary(checks.pingRedis, 'redis-cli ping', { timeoutMs: policy.redisTimeoutMs }),
      (r) => (r.ok ? `${r.reply} in ${r.latencyMs} ms` : `failed: ${r.error ?? r.reply}`),
    );
    if (redis2) inc.state.checks.redis = redis2;
    const again = restartNeeded({
      errorRate: rate,
      detectionErrorRate: policy.detectionErrorRate,
      databaseOk: db2?.ok,
      redisOk: redis2?.ok,
      logErrorLines: undefined,
    });
    const since = `still at or above ${pct(policy.detectionErrorRate)} ${minutes(policy.reconsiderRestartAfterMs)} after the last decision`;
    inc.decide(
      `${again.restart ? `Restart ${restarts + 1}/${policy.maxRestarts}` : 'No restart'} (${since}): ${again.why}`,
    );
    if (again.restart) await restart(again.why);
    if (restarts >= policy.maxRestarts) {
      inc.decide(`No more restarts: ${restarts}/${policy.maxRestarts} made; watching and escalating`);
    }
  };

  // Verify: error rate below the detection level for the window; > 5 % escalates meanwhile.
  const summary = `Verify: error rate < ${pct(policy.detectionErrorRate)} for ${minutes(policy.resolveWindowMs)}`;
  const end = await inc.step(
    'verify',
    summary,
    () =>
      verifyLoop(inc, {
        name: 'error-rate',
        summary,
        sample: () => measureRate(`Error rate of ${target} (Prometheus)`),
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
            above: escalatedRate
              ? { never: true }
              : { path: 'rate.value', op: '>', value: policy.escalateErrorRate },
          }),
        },
        resolveWindowMs: policy.resolveWindowMs,
        sampleIntervalMs: policy.sampleIntervalMs,
        maxSampleIntervalMs: policy.maxSampleIntervalMs,
        judge: async (s) => {
          await judgeRate(s.value);
          const ok = s.value !== null && s.value < policy.detectionErrorRate;
          if (ok || s.value === null || !canRestart || restarts >= policy.maxRestarts) return { ok };
          const due = decidedAt + policy.reconsiderRestartAfterMs - Date.now();
          if (due > 0) return { ok, nextWithinMs: due };
          await reconsider(s.value);
          return { ok, nextWithinMs: policy.reconsiderRestartAfterMs };
        },
      }),
    (e) => (e.end === 'resolved' ? `error rate ${pct(e.last.value)}, held ${minutes(e.heldMs)}` : e.end),
  );
  if (end.end === 'closed-by-human') return inc.finishByHuman();
  if (end.end === 'gave-up')
    return inc.finish('abandoned', 'abandoned: errors persisted past the give-up window');
  return inc.finish(
    'resolved',
    `Error rate ${pct(end.last.value)} (< ${pct(policy.detectionErrorRate)}) for ${minutes(end.heldMs)}${restarts === 0 ? ' without a restart' : restarts === 1 ? ' after a restart' : ` after ${restarts} restarts`}`,
  );
}
