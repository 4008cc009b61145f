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
import {
  assumedMetric,
  growth,
  minutes,
  pct,
  verifyLoop,
  type Sample,
  type SampleVerdict,
  type WatchSpec,
} from './verify-loop';
import { valueAt, type TimedSample } from '../definitions/watch';
import { queueOverflowDefaults, type QueueOverflowPolicy } from '../definitions/policies/queue-overflow';
import { withDefaults } from '../definitions/policies/gate-policy';
import { guardedCheck, guardedStep } from './guarded-actions';
import type { IncidentInput, IncidentState } from '../definitions/types';
import type { MetricQuery, MetricSample } from '../activities/prometheus';

const TIER = 'engineering lead';
const HISTORY = 20;
/** Where the depth is in a watched sample. */
const DEPTH = 'queue.depth.value';

/** One run of the runbook: what its steps share. */
interface Run {
  inc: Incident;
  policy: QueueOverflowPolicy;
  target: string;
  incidentId: string;
  depthQuery: MetricQuery;
  utilQuery: MetricQuery;
  /** The last depth samples (at most HISTORY), for the "growing rapidly" slope. */
  history: Sample[];
  /** The "> 1000" and "growing rapidly" pages went out (each pages once). */
  escalatedDepth: boolean;
  escalatedGrowth: boolean;
  /** New jobs are paused (the producer's flag is set). */
  paused: boolean;
  /** Worker replicas running for this incident. */
  replicas: number;
  /** Why scaling is no longer possible, once it is not. */
  scaleBlocked: string | undefined;
  scaleRound: number;
}

export async function queueOverflow(input: IncidentInput<QueueOverflowPolicy>): Promise<IncidentState> {
  const policy = withDefaults(queueOverflowDefaults, input.policy);
  const inc = new Incident({ runbook: 'P1-3', name: 'Queue overflow', severity: 'P1' }, input, policy);
  const target = input.target;
  const run: Run = {
    inc,
    policy,
    target,
    incidentId: input.incidentId,
    depthQuery: { name: 'depth', query: policy.depthQuery, target, window: policy.rateWindow },
    utilQuery: { name: 'utilization', query: policy.utilizationQuery, target, window: policy.rateWindow },
    history: [],
    escalatedDepth: false,
    escalatedGrowth: false,
    paused: false,
    replicas: 0,
    scaleBlocked: undefined,
    scaleRound: 0,
  };

  // A person's resolve counts only with the queue drained to the detection line (200).
  inc.endStateCheck = metricEndState(
    (v) => `${v} jobs`,
    () => measureDepth(run),
    policy.detectionDepth,
    true,
  );
  const depth0 = await checkQueue(run); // 1. Check queue
  const util0 = await checkWorkerUtilization(run); // 2. Check worker utilization
  inc.setStatus('remediating');
  const d0 = depth0?.value ?? null;
  if (d0 !== null) {
    // Escalate if: queue > 1000 or growing rapidly
    await judgeDepth(run, d0);
    // 3. Scale workers if possible
    if (d0 > policy.detectionDepth) {
      await scaleWorkers(run, d0, util0?.value ?? null);
      if (run.replicas === 0 && !run.scaleBlocked) {
        inc.skip(
          'scale',
          '3. Scale workers if possible',
          `worker utilization ${pct(util0?.value)} is below ${pct(policy.workerUtilizationBelow)}`,
        );
      }
    } else {
      inc.skip('scale', '3. Scale workers if possible', `depth ${d0} is not above ${policy.detectionDepth}`);
    }
    // 4. Pause new jobs if queue > 500
    await pauseOrResume(run, d0);
  }

  // Verify: depth at or below the detection level, jobs resumed, for the window.
  const end = await verifyQueue(run);
  if (end.end !== 'resolved') {
    if (run.paused)
      inc.decide(
        `New jobs are still paused (${policy.pauseKey} = 1): clear it when the queue is under control`,
      );
    if (run.replicas > 0)
      inc.decide(`${run.replicas} worker replicas are left running (label accubooks.scaled-for=${target})`);
    if (end.end === 'closed-by-human') return inc.finishByHuman();
    return inc.finish('abandoned', 'abandoned: the queue stayed high past the give-up window');
  }
  const scaledDown = await scaleDownIfScaled(run);
  return inc.finish(
    'resolved',
    `Queue at ${end.last.depth?.value} (<= ${policy.detectionDepth}) for ${minutes(end.heldMs)}, jobs resumed; ${run.replicas} replicas were started${scaledDown}`,
  );
}

const measureDepth = (run: Run) =>
  withSummary(checks.queryMetric, `forecast_queue_depth of ${run.target} (Prometheus)`, run.depthQuery);

/** 1. Check queue: forecast_queue_depth (Prometheus). */
function checkQueue(run: Run): Promise<MetricSample | undefined> {
  return run.inc.check(
    'check-queue',
    '1. Check queue (forecast_queue_depth)',
    () => measureDepth(run),
    (s) => (s.value === null ? 'no data' : `${s.value} jobs`),
  );
}

/** 2. Check worker utilization: should be < 80 % (Prometheus). */
async function checkWorkerUtilization({ inc, policy, target, utilQuery }: Run) {
  const util0 = await inc.check(
    'check-utilization',
    `2. Check worker utilization (< ${pct(policy.workerUtilizationBelow)})`,
    () => withSummary(checks.queryMetric, `forecast_worker_utilization of ${target} (Prometheus)`, utilQuery),
    (s) => pct(s.value),
  );
  inc.state.checks.workerUtilization = util0?.value ?? null;
  return util0;
}

/** Escalate if: queue > 1000 or growing rapidly. Both rules, on every depth sample. */
async function judgeDepth(run: Run, depth: number, series?: Sample[]) {
  const { inc, policy, history } = run;
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
  if (depth > policy.escalateDepth && !run.escalatedDepth) {
    run.escalatedDepth = true;
    await inc.escalate(`Queue depth ${depth} > ${policy.escalateDepth}`, TIER);
  }
  if (g.rapid && !run.escalatedGrowth) {
    run.escalatedGrowth = true;
    await inc.escalate(
      `Queue growing rapidly: +${Math.round(g.slopePerMinute ?? 0)} jobs/min over the last ${policy.growthSamples} samples (>= ${policy.rapidGrowthPerMinute}/min), now ${depth}`,
      TIER,
    );
  }
}

/** 3. Scale workers if possible: the queue is high, the workers are busy, replicas remain. */
async function scaleWorkers(run: Run, depth: number, utilization: number | null): Promise<void> {
  const { inc, policy } = run;
  if (depth <= policy.detectionDepth || run.scaleBlocked) return;
  if (utilization !== null && utilization < policy.workerUtilizationBelow) return;
  if (run.replicas >= policy.maxReplicas) {
    run.scaleBlocked = `already at the maximum of ${policy.maxReplicas} replicas`;
    inc.decide(`Cannot scale further: ${run.scaleBlocked}`);
    return;
  }
  const want = Math.min(policy.maxReplicas, run.replicas + policy.scaleStep);
  run.scaleRound++;
  inc.decide(
    `Scale to ${want} worker replicas: depth ${depth} > ${policy.detectionDepth} and worker utilization ${pct(utilization)} (should be < ${pct(policy.workerUtilizationBelow)})`,
  );
  try {
    const out = await startReplicas(run, depth, want);
    if (!out.done) {
      run.scaleBlocked = `refused by the target guard: ${out.refusedBecause}`;
      inc.decide(`Cannot scale: ${run.scaleBlocked}`);
      return;
    }
    const r = out.result!;
    run.replicas = Math.max(run.replicas, r.running.length);
    inc.state.checks.replicas = r.running.map((x) => x.name);
  } catch (err) {
    run.scaleBlocked = failureText(err);
    inc.decide(`Cannot scale: ${run.scaleBlocked}`);
  }
}

/**
 * 3. Scale workers: more forecast-worker replicas through the Docker API. Replicas clone an app
 * (its image and environment): the guard of the app they clone is asked for the scale-up, and a
 * P0-4 hold on that app refuses it.
 */
function startReplicas({ inc, policy, target, incidentId, scaleRound }: Run, depth: number, want: number) {
  return guardedStep(
    inc,
    policy.replicaTemplate ?? target,
    'scaleWorkersUp',
    {
      name: `scale-${scaleRound}`,
      title: `3. Scale workers to ${want} replicas (max ${policy.maxReplicas})`,
      reason: `P1-3 ${incidentId}: queue depth ${depth}`,
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
      reason: `P1-3 ${incidentId}`,
    },
  );
}

/** 4. Pause new jobs while the queue is > 500; resume once it has drained below the resume level. */
async function pauseOrResume(run: Run, depth: number): Promise<void> {
  const { inc, policy, target, incidentId } = run;
  if (!run.paused && depth > policy.pauseAboveDepth) {
    inc.decide(`Pause new jobs: depth ${depth} > ${policy.pauseAboveDepth}`);
    const r = await guardedCheck(
      inc,
      target,
      'setFlag',
      {
        name: 'pause-jobs',
        title: `4. Pause new jobs (queue > ${policy.pauseAboveDepth})`,
        reason: `P1-3 ${incidentId}: queue depth ${depth}`,
        summary: `SET ${policy.pauseKey} 1`,
        describe: (res) => (res.previous === '1' ? 'was already paused' : `paused (${policy.pauseKey} = 1)`),
      },
      { key: policy.pauseKey, value: '1', reason: `P1-3 ${incidentId}` },
    );
    if (r) run.paused = true;
  } else if (run.paused && depth < policy.resumeBelowDepth) {
    inc.decide(`Resume new jobs: depth ${depth} < ${policy.resumeBelowDepth}`);
    const r = await guardedCheck(
      inc,
      target,
      'clearFlag',
      {
        name: 'resume-jobs',
        title: `Resume new jobs (queue < ${policy.resumeBelowDepth})`,
        reason: `P1-3 ${incidentId}: queue depth ${depth}`,
        summary: `DEL ${policy.pauseKey}`,
        describe: () => `resumed (${policy.pauseKey} cleared)`,
      },
      { key: policy.pauseKey, reason: `P1-3 ${incidentId}` },
    );
    if (r) run.paused = false;
  }
  inc.state.checks.jobsPaused = run.paused;
}

/** Verify: depth at or below the detection level, jobs resumed, for the window. */
function verifyQueue(run: Run) {
  const { inc, policy } = run;
  const summary = `Verify: queue <= ${policy.detectionDepth} with jobs resumed for ${minutes(policy.resolveWindowMs)}`;
  return inc.step(
    'verify',
    summary,
    () =>
      verifyLoop(inc, {
        name: 'queue',
        summary,
        watch: watchQueue(run),
        resolveWindowMs: policy.resolveWindowMs,
        sampleIntervalMs: policy.sampleIntervalMs,
        maxSampleIntervalMs: policy.maxSampleIntervalMs,
        assumed: {
          condition: `queue <= ${policy.detectionDepth} with jobs resumed for ${minutes(policy.resolveWindowMs)}`,
          sample: () => ({ depth: assumedMetric('depth'), utilization: assumedMetric('utilization') }),
        },
        unmeasured: { afterMs: policy.unmeasuredEscalateAfterMs, tier: TIER, what: 'The queue depth' },
        judge: (s, recent) => judgeSample(run, s, recent),
      }),
    (e) => (e.end === 'resolved' ? `depth ${e.last.depth?.value}, held ${minutes(e.heldMs)}` : e.end),
  );
}

/**
 * Sampled in one activity that comes back when a rule's condition changes: drained (ok), pause
 * (> 500), resume (< 200), > 1000, growing rapidly; and on every sample while scaling is still
 * possible and wanted. Regular samples while the queue is high or rising.
 */
function watchQueue(run: Run): WatchSpec<Record<string, MetricSample>> {
  const { policy, depthQuery, utilQuery } = run;
  return {
    what: `queue of ${run.target}`,
    probes: () => ({ queue: { kind: 'metrics', input: { queries: [depthQuery, utilQuery] } } }),
    pick: (s) => s.queue as Record<string, MetricSample>,
    keep: HISTORY,
    react: () => ({
      measured: { path: DEPTH, op: 'known' },
      ok: run.paused ? { never: true } : { path: DEPTH, op: '<=', value: policy.detectionDepth },
      pause: run.paused ? { never: true } : { path: DEPTH, op: '>', value: policy.pauseAboveDepth },
      resume: run.paused ? { path: DEPTH, op: '<', value: policy.resumeBelowDepth } : { never: true },
      above: run.escalatedDepth ? { never: true } : { path: DEPTH, op: '>', value: policy.escalateDepth },
      rapid: run.escalatedGrowth
        ? { never: true }
        : { rising: { path: DEPTH, samples: policy.growthSamples, perMinute: policy.rapidGrowthPerMinute } },
    }),
    returnWhen: () =>
      run.scaleBlocked
        ? undefined
        : {
            all: [
              { path: DEPTH, op: '>', value: policy.detectionDepth },
              { not: { path: 'queue.utilization.value', op: '<', value: policy.workerUtilizationBelow } },
            ],
          },
    steadyWhen: () => ({
      any: [
        { path: DEPTH, op: '>', value: policy.detectionDepth },
        { rising: { path: DEPTH, samples: policy.growthSamples, perMinute: 0 } },
      ],
    }),
  };
}

/** One verification sample: both escalation rules, then steps 3 and 4 again. */
async function judgeSample(
  run: Run,
  s: Record<string, MetricSample>,
  recent: TimedSample[] | undefined,
): Promise<SampleVerdict> {
  const { inc, policy } = run;
  const depth = s.depth?.value ?? null;
  const utilization = s.utilization?.value ?? null;
  inc.state.checks.workerUtilization = utilization;
  if (depth === null) return { ok: false };
  await judgeDepth(
    run,
    depth,
    recent
      ?.map((r) => ({ at: r.at, value: valueAt(r.sample, DEPTH) }))
      .filter((x): x is Sample => typeof x.value === 'number'),
  );
  await scaleWorkers(run, depth, utilization);
  await pauseOrResume(run, depth);
  // (Regular samples while the queue is high or rising come from the watch's `steadyWhen`.)
  return { ok: depth <= policy.detectionDepth && !run.paused };
}

/** Once resolved, the replicas this incident started are scaled back down. */
async function scaleDownIfScaled({ inc, policy, target, incidentId, replicas }: Run): Promise<string> {
  if (replicas === 0 || !policy.scaleDownOnResolve) return '';
  const down = await guardedCheck(
    inc,
    target,
    'scaleWorkersDown',
    {
      name: 'scale-down',
      title: 'Scale workers back down',
      reason: `P1-3 ${incidentId} resolved`,
      summary: `Remove forecast-worker replicas of ${target}`,
      describe: (r) => `removed ${r.removed.length}: ${r.removed.join(', ') || '-'}`,
    },
    {
      target,
      keep: 0,
      stopTimeoutSec: policy.replicaStopTimeoutSec,
      reason: `P1-3 ${incidentId} resolved`,
    },
  );
  if (down) inc.state.checks.replicas = down.remaining.map((x) => x.name);
  return down ? `; ${down.removed.length} replicas removed` : '; scale-down failed (see the step)';
}
