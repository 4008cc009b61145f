/**
 * P1-3: QUEUE OVERFLOW
 * Detection: Queue depth >200 (10 min)
 * Actions:
 *   1. Check queue: Monitor forecast_queue_depth (Prometheus)
 *   2. Check worker utilization: Should be <80% (Prometheus)
 *   3. Scale workers if possible: more forecast-worker replicas through the Docker API, up to the
 *      policy's maximum, labelled so the scale-down finds them
 *   4. Pause new jobs if queue >500: the flag the producer honours; cleared once the queue has
 *      drained below the policy's resume level
 * Escalate if: Queue >1000 or growing rapidly ("rapidly": every one of the last N samples higher than
 * the one before, with a slope of at least the policy's jobs per minute)
 *
 * The incident resolves when the depth stays at or below the detection level, with jobs resumed, for
 * the policy's window; the replicas it started are then scaled back down.
 */
import { checks } from './activity-proxies';
import { failureText, Incident, withSummary } from './incident';
import { metricEndState } from './end-state';
import { growth, minutes, pct, verifyLoop, type Sample } from './measured';
import { valueAt } from '../definitions/watch';
import { queueOverflowDefaults, type QueueOverflowPolicy } from '../definitions/policies/queue-overflow';
import { withDefaults } from '../definitions/policies/gate-policy';
import { guardedCheck, guardedStep } from './guarded-actions';
import type { IncidentInput, IncidentState } from '../definitions/types';
import type { MetricQuery, MetricSample } from '../activities/prometheus';

const TIER = 'engineering lead';
const HISTORY = 20;
/** Where the depth is in a watched sample. */
const DEPTH = 'queue.depth.value';

export async function queueOverflow(input: IncidentInput<QueueOverflowPolicy>): Promise<IncidentState> {
  const policy = withDefaults(queueOverflowDefaults, input.policy);
  const inc = new Incident({ runbook: 'P1-3', name: 'Queue overflow', severity: 'P1' }, input, policy);
  const target = input.target;
  const depthQuery: MetricQuery = {
    name: 'depth',
    query: policy.depthQuery,
    target,
    window: policy.rateWindow,
  };
  const utilQuery: MetricQuery = {
    name: 'utilization',
    query: policy.utilizationQuery,
    target,
    window: policy.rateWindow,
  };

  const history: Sample[] = [];
  let escalatedDepth = false;
  let escalatedGrowth = false;
  let paused = false;
  let replicas = 0;
  let scaleBlocked: string | undefined;
  let scaleRound = 0;

  /** Both escalation rules, on every depth sample. */
  const judgeDepth = async (depth: number, series?: Sample[]) => {
    // Watched samples come with the ones taken in between (the slope needs them all).
    if (series) history.splice(0, history.length, ...series.slice(-HISTORY));
    else history.push({ at: Date.now(), value: depth });
    if (history.length > HISTORY) history.shift();
    inc.state.checks.queueDepth = depth;
    const g = growth(history, policy.growthSamples, policy.rapidGrowthPerMinute);
    inc.state.checks.growth = {
      slopePerMinute: g.slopePerMinute === null ? null : Math.round(g.slopePerMinute),
      rising: g.rising,
      samples: history.slice(-policy.growthSamples).map((s) => s.value),
    };
    if (depth > policy.escalateDepth && !escalatedDepth) {
      escalatedDepth = true;
      await inc.escalate(`Queue depth ${depth} > ${policy.escalateDepth}`, TIER);
    }
    if (g.rapid && !escalatedGrowth) {
      escalatedGrowth = true;
      await inc.escalate(
        `Queue growing rapidly: +${Math.round(g.slopePerMinute ?? 0)} jobs/min over the last ${policy.growthSamples} samples (>= ${policy.rapidGrowthPerMinute}/min), now ${depth}`,
        TIER,
      );
    }
    return g;
  };

  /** 3. Scale workers if possible. */
  const maybeScale = async (depth: number, utilization: number | null) => {
    if (depth <= policy.detectionDepth || scaleBlocked) return;
    if (utilization !== null && utilization < policy.workerUtilizationBelow) return;
    if (replicas >= policy.maxReplicas) {
      scaleBlocked = `already at the maximum of ${policy.maxReplicas} replicas`;
      inc.decide(`Cannot scale further: ${scaleBlocked}`);
      return;
    }
    const want = Math.min(policy.maxReplicas, replicas + policy.scaleStep);
    scaleRound++;
    inc.decide(
      `Scale to ${want} worker replicas: depth ${depth} > ${policy.detectionDepth} and worker utilization ${pct(utilization)} (should be < ${pct(policy.workerUtilizationBelow)})`,
    );
    try {
      // Replicas clone an app (its image and environment): the guard of the app they clone is
      // asked for the scale-up, and a P0-4 hold on that app refuses it.
      const out = await guardedStep(
        inc,
        policy.replicaTemplate ?? target,
        'scaleWorkersUp',
        {
          name: `scale-${scaleRound}`,
          title: `3. Scale workers to ${want} replicas (max ${policy.maxReplicas})`,
          reason: `P1-3 ${input.incidentId}: queue depth ${depth}`,
          summary: `Start forecast-worker replicas of ${target} (${want})`,
          describe: (res) =>
            `${res.running.length} running (${res.created.length} started now: ${res.created.join(', ') || '-'})`,
        },
        {
          target,
          template: policy.replicaTemplate,
          env: policy.replicaEnv,
          labels: policy.replicaLabels,
          portEnv: policy.replicaPortEnv,
          portLabel: policy.replicaPortLabel,
          instanceEnv: policy.replicaInstanceEnv,
          healthPath: policy.replicaHealthPath,
          healthTimeoutMs: policy.replicaHealthTimeoutMs,
          replicas: want,
          reason: `P1-3 ${input.incidentId}`,
        },
      );
      if (!out.done) {
        scaleBlocked = `refused by the target guard: ${out.refusedBecause}`;
        inc.decide(`Cannot scale: ${scaleBlocked}`);
        return;
      }
      const r = out.result!;
      replicas = Math.max(replicas, r.running.length);
      inc.state.checks.replicas = r.running.map((x) => x.name);
    } catch (err) {
      scaleBlocked = failureText(err);
      inc.decide(`Cannot scale: ${scaleBlocked}`);
    }
  };

  /** 4. Pause new jobs while the queue is > 500; resume once it has drained below the resume level. */
  const pauseOrResume = async (depth: number) => {
    if (!paused && depth > policy.pauseAboveDepth) {
      inc.decide(`Pause new jobs: depth ${depth} > ${policy.pauseAboveDepth}`);
      const r = await guardedCheck(
        inc,
        target,
        'setFlag',
        {
          name: 'pause-jobs',
          title: `4. Pause new jobs (queue > ${policy.pauseAboveDepth})`,
          reason: `P1-3 ${input.incidentId}: queue depth ${depth}`,
          summary: `SET ${policy.pauseKey} 1`,
          describe: (res) =>
            res.previous === '1' ? 'was already paused' : `paused (${policy.pauseKey} = 1)`,
        },
        { key: policy.pauseKey, value: '1', reason: `P1-3 ${input.incidentId}` },
      );
      if (r) paused = true;
    } else if (paused && depth < policy.resumeBelowDepth) {
      inc.decide(`Resume new jobs: depth ${depth} < ${policy.resumeBelowDepth}`);
      const r = await guardedCheck(
        inc,
        target,
        'clearFlag',
        {
          name: 'resume-jobs',
          title: `Resume new jobs (queue < ${policy.resumeBelowDepth})`,
          reason: `P1-3 ${input.incidentId}: queue depth ${depth}`,
          summary: `DEL ${policy.pauseKey}`,
          describe: () => `resumed (${policy.pauseKey} cleared)`,
        },
        { key: policy.pauseKey, reason: `P1-3 ${input.incidentId}` },
      );
      if (r) paused = false;
    }
    inc.state.checks.jobsPaused = paused;
  };

  // A person's resolve counts only with the queue drained to the detection line (200).
  inc.endStateCheck = metricEndState(
    (v) => `${v} jobs`,
    () => withSummary(checks.queryMetric, `forecast_queue_depth of ${target} (Prometheus)`, depthQuery),
    policy.detectionDepth,
    true,
  );
  // 1. Check queue
  const depth0 = await inc.check(
    'check-queue',
    '1. Check queue (forecast_queue_depth)',
    () => withSummary(checks.queryMetric, `forecast_queue_depth of ${target} (Prometheus)`, depthQuery),
    (s) => (s.value === null ? 'no data' : `${s.value} jobs`),
  );
  // 2. Check worker utilization
  const util0 = await inc.check(
    'check-utilization',
    `2. Check worker utilization (< ${pct(policy.workerUtilizationBelow)})`,
    () => withSummary(checks.queryMetric, `forecast_worker_utilization of ${target} (Prometheus)`, utilQuery),
    (s) => pct(s.value),
  );
  inc.state.checks.workerUtilization = util0?.value ?? null;
  inc.setStatus('remediating');
  const d0 = depth0?.value ?? null;
  if (d0 !== null) {
    await judgeDepth(d0);
    if (d0 > policy.detectionDepth) {
      await maybeScale(d0, util0?.value ?? null);
      if (replicas === 0 && !scaleBlocked) {
        inc.skip(
          'scale',
          '3. Scale workers if possible',
          `worker utilization ${pct(util0?.value)} is below ${pct(policy.workerUtilizationBelow)}`,
        );
      }
    } else {
      inc.skip('scale', '3. Scale workers if possible', `depth ${d0} is not above ${policy.detectionDepth}`);
    }
    await pauseOrResume(d0);
  }

  // Verify: depth at or below the detection level, jobs resumed, for the window.
  const summary = `Verify: queue <= ${policy.detectionDepth} with jobs resumed for ${minutes(policy.resolveWindowMs)}`;
  const end = await inc.step(
    'verify',
    summary,
    () =>
      verifyLoop(inc, {
        name: 'queue',
        summary,
        sample: () =>
          withSummary(checks.queryMetrics, `Queue depth and worker utilization of ${target} (Prometheus)`, {
            queries: [depthQuery, utilQuery],
          }),
        // Sampled in one activity that comes back when a rule's condition changes: drained (ok),
        // pause (> 500), resume (< 200), > 1000, growing rapidly; and on every sample while scaling
        // is still possible and wanted. Regular samples while the queue is high or rising.
        watch: {
          what: `queue of ${target}`,
          probes: () => ({ queue: { kind: 'metrics', input: { queries: [depthQuery, utilQuery] } } }),
          pick: (s) => s.queue as Record<string, MetricSample>,
          keep: HISTORY,
          react: () => ({
            measured: { path: DEPTH, op: 'known' },
            ok: paused ? { never: true } : { path: DEPTH, op: '<=', value: policy.detectionDepth },
            pause: paused ? { never: true } : { path: DEPTH, op: '>', value: policy.pauseAboveDepth },
            resume: paused ? { path: DEPTH, op: '<', value: policy.resumeBelowDepth } : { never: true },
            above: escalatedDepth ? { never: true } : { path: DEPTH, op: '>', value: policy.escalateDepth },
            rapid: escalatedGrowth
              ? { never: true }
              : {
                  rising: {
                    path: DEPTH,
                    samples: policy.growthSamples,
                    perMinute: policy.rapidGrowthPerMinute,
                  },
                },
          }),
          returnWhen: () =>
            scaleBlocked
              ? undefined
              : {
                  all: [
                    { path: DEPTH, op: '>', value: policy.detectionDepth },
                    {
                      not: { path: 'queue.utilization.value', op: '<', value: policy.workerUtilizationBelow },
                    },
                  ],
                },
          steadyWhen: () => ({
            any: [
              { path: DEPTH, op: '>', value: policy.detectionDepth },
              { rising: { path: DEPTH, samples: policy.growthSamples, perMinute: 0 } },
            ],
          }),
        },
        resolveWindowMs: policy.resolveWindowMs,
        sampleIntervalMs: policy.sampleIntervalMs,
        maxSampleIntervalMs: policy.maxSampleIntervalMs,
        unmeasured: { afterMs: policy.unmeasuredEscalateAfterMs, tier: TIER, what: 'The queue depth' },
        judge: async (s, recent) => {
          const depth = s.depth?.value ?? null;
          const utilization = s.utilization?.value ?? null;
          inc.state.checks.workerUtilization = utilization;
          if (depth === null) return { ok: false };
          const g = await judgeDepth(
            depth,
            recent
              ?.map((r) => ({ at: r.at, value: valueAt(r.sample, DEPTH) }))
              .filter((x): x is Sample => typeof x.value === 'number'),
          );
          await maybeScale(depth, utilization);
          await pauseOrResume(depth);
          // Regular samples while the queue is high or rising: the slope rule needs them.
          return {
            ok: depth <= policy.detectionDepth && !paused,
            steady: depth > policy.detectionDepth || g.rising,
          };
        },
      }),
    (e) => (e.end === 'resolved' ? `depth ${e.last.depth?.value}, held ${minutes(e.heldMs)}` : e.end),
  );

  if (end.end !== 'resolved') {
    if (paused)
      inc.decide(
        `New jobs are still paused (${policy.pauseKey} = 1): clear it when the queue is under control`,
      );
    if (replicas > 0)
      inc.decide(`${replicas} worker replicas are left running (label accubooks.scaled-for=${target})`);
    if (end.end === 'closed-by-human') return inc.finishByHuman();
    return inc.finish('abandoned', 'abandoned: the queue stayed high past the give-up window');
  }

  // Scale back down once resolved.
  let scaledDown = '';
  if (replicas > 0 && policy.scaleDownOnResolve) {
    const down = await guardedCheck(
      inc,
      target,
      'scaleWorkersDown',
      {
        name: 'scale-down',
        title: 'Scale workers back down',
        reason: `P1-3 ${input.incidentId} resolved`,
        summary: `Remove forecast-worker replicas of ${target}`,
        describe: (r) => `removed ${r.removed.length}: ${r.removed.join(', ') || '-'}`,
      },
      {
        target,
        keep: 0,
        stopTimeoutSec: policy.replicaStopTimeoutSec,
        reason: `P1-3 ${input.incidentId} resolved`,
      },
    );
    scaledDown = down ? `; ${down.removed.length} replicas removed` : '; scale-down failed (see the step)';
    if (down) inc.state.checks.replicas = down.remaining.map((x) => x.name);
  }
  return inc.finish(
    'resolved',
    `Queue at ${end.last.depth?.value} (<= ${policy.detectionDepth}) for ${minutes(end.heldMs)}, jobs resumed; ${replicas} replicas were started${scaledDown}`,
  );
}
