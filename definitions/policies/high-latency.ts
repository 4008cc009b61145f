/** P1-2 High latency: the seed's durations and thresholds as typed, overridable defaults. */
import { commonDefaults, type CommonPolicy } from './common';
import { p95LatencyQuery, RATE_WINDOW, TARGET_SCOPE } from './api-queries';

export interface HighLatencyPolicy extends CommonPolicy {
  /**
   * PromQL for the p95 latency in seconds. Placeholders: {{target}}, {{targetRegex}}, {{window}}.
   * The default is the HighLatency alert's own definition for the target (policies/api-queries.ts).
   */
  p95Query: string;
  rateWindow: string;
  /** "Detection: p95 latency >1s": below this is healthy again (the verification level). */
  detectionP95Seconds: number;
  /** "Escalate if: Latency >2s". */
  escalateP95Seconds: number;
  /** "... or not resolved in 2 hours". */
  escalateAfterMs: number;
  /** "Check slow queries: ... state = 'active' AND now() - query_start > interval '5 seconds'". */
  slowQueryMs: number;
  /** Only queries of this application_name (one API instance), when set. */
  applicationName?: string;
  /** "Check pool utilization: Should be <70%". */
  poolUtilizationBelow: number;
  /** "Check Redis hit rate: Should be >70%". */
  redisHitRateAbove: number;
  /** The hit rate is measured over this interval (falls back to the lifetime rate when idle). */
  hitRateSampleMs: number;
  /** "Kill slow queries if needed": cancel first, wait this long, terminate what is still running. */
  cancelGraceMs: number;
  terminateGraceMs: number;
  /** Rounds of killing (new slow queries keep coming while the cause persists); then only watch. */
  maxKillRounds: number;
  /** p95 below the detection level continuously this long resolves the incident. */
  resolveWindowMs: number;
  poolCheckTimeoutMs: number;
  sampleIntervalMs: number;
  maxSampleIntervalMs: number;
}

/** The alert rule's p95 latency, for the incident's target. */
export const DEFAULT_P95_QUERY = p95LatencyQuery(TARGET_SCOPE);

export const highLatencyDefaults: HighLatencyPolicy = {
  ...commonDefaults,
  p95Query: DEFAULT_P95_QUERY,
  rateWindow: RATE_WINDOW,
  detectionP95Seconds: 1,
  escalateP95Seconds: 2,
  escalateAfterMs: 2 * 60 * 60_000,
  slowQueryMs: 5_000,
  poolUtilizationBelow: 0.7,
  redisHitRateAbove: 0.7,
  hitRateSampleMs: 2_000,
  cancelGraceMs: 5_000,
  terminateGraceMs: 5_000,
  maxKillRounds: 3,
  resolveWindowMs: 5 * 60_000,
  poolCheckTimeoutMs: 5_000,
  sampleIntervalMs: 30_000,
  maxSampleIntervalMs: 5 * 60_000,
};
