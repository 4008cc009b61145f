/** P1-3 Queue overflow: the seed's durations and thresholds as typed, overridable defaults. */
import { commonDefaults, type CommonPolicy } from './common';

export interface QueueOverflowPolicy extends CommonPolicy {
  /** PromQL for the queue depth ("Monitor forecast_queue_depth"). Placeholders: {{target}}, {{targetRegex}}, {{window}}. */
  depthQuery: string;
  /** PromQL for worker utilization (0..1), over the target and the replicas this runbook starts. */
  utilizationQuery: string;
  rateWindow: string;
  /** "Detection: Queue depth >200": at or below this the queue counts as drained (verification). */
  detectionDepth: number;
  /** "Pause new jobs if queue >500". */
  pauseAboveDepth: number;
  /** Resume new jobs once the queue has drained below this. */
  resumeBelowDepth: number;
  /** "Escalate if: Queue >1000". */
  escalateDepth: number;
  /**
   * "... or growing rapidly": the last `growthSamples` samples each higher than the one before, with
   * a slope from first to last of at least `rapidGrowthPerMinute` jobs per minute.
   */
  growthSamples: number;
  rapidGrowthPerMinute: number;
  /** "Check worker utilization: Should be <80%". */
  workerUtilizationBelow: number;
  /** "Scale workers if possible": replicas started per scaling step, and never more than the maximum. */
  scaleStep: number;
  maxReplicas: number;
  scaleDownOnResolve: boolean;
  /** The flag the producer honours (the sandbox's FORECAST_PAUSE_KEY). */
  pauseKey: string;
  /** Replicas: copied from this container (default: the target), with this environment and these labels. */
  replicaTemplate?: string;
  replicaEnv: Record<string, string>;
  replicaLabels: Record<string, string>;
  replicaPortEnv?: string;
  replicaPortLabel?: string;
  replicaInstanceEnv?: string;
  replicaHealthPath?: string;
  replicaHealthTimeoutMs: number;
  replicaStopTimeoutSec: number;
  /** Depth at or below the detection level (and the producer resumed) this long resolves the incident. */
  resolveWindowMs: number;
  /** Samples at a steady interval while the queue is above detection (the slope needs regular samples). */
  sampleIntervalMs: number;
  maxSampleIntervalMs: number;
  /** A queue that cannot be measured this long escalates (the check keeps being retried). */
  unmeasuredEscalateAfterMs: number;
}

export const DEFAULT_DEPTH_QUERY = 'max(forecast_queue_depth{instance_name="{{target}}"})';
/** The target's own consumers and its replicas (named `<target>-fw-<n>` by the scaling activities). */
export const DEFAULT_UTILIZATION_QUERY =
  'avg(forecast_worker_utilization{instance_name=~"{{targetRegex}}(-fw-[0-9]+)?"})';

export const queueOverflowDefaults: QueueOverflowPolicy = {
  ...commonDefaults,
  depthQuery: DEFAULT_DEPTH_QUERY,
  utilizationQuery: DEFAULT_UTILIZATION_QUERY,
  rateWindow: '1m',
  detectionDepth: 200,
  pauseAboveDepth: 500,
  resumeBelowDepth: 200,
  escalateDepth: 1000,
  growthSamples: 4,
  rapidGrowthPerMinute: 100,
  workerUtilizationBelow: 0.8,
  scaleStep: 2,
  maxReplicas: 4,
  scaleDownOnResolve: true,
  pauseKey: 'forecast:jobs:paused',
  replicaEnv: { SANDBOX_ROLE: 'forecast-worker' },
  replicaLabels: { 'accubooks.sandbox.role': 'forecast-worker' },
  replicaPortEnv: 'PORT',
  replicaPortLabel: 'accubooks.sandbox.port',
  replicaInstanceEnv: 'INSTANCE',
  replicaHealthPath: '/api/monitoring/health',
  replicaHealthTimeoutMs: 30_000,
  replicaStopTimeoutSec: 10,
  resolveWindowMs: 10 * 60_000,
  sampleIntervalMs: 30_000,
  maxSampleIntervalMs: 2 * 60_000,
  unmeasuredEscalateAfterMs: 10 * 60_000,
};
