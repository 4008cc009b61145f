/** P1-1 High error rate: the seed's durations and thresholds as typed, overridable defaults. */
import { commonDefaults, type CommonPolicy } from './common';
import { errorRateQuery, RATE_WINDOW, TARGET_SCOPE } from './api-queries';

export interface HighErrorRatePolicy extends CommonPolicy {
  /**
   * PromQL for the error rate (0..1) of the target. Placeholders: {{target}}, {{targetRegex}},
   * {{window}}. The default is the HighErrorRate alert's own definition for the target
   * (policies/api-queries.ts): user traffic only, the same routes excluded.
   */
  errorRateQuery: string;
  /** Range for rate() in the queries ({{window}}). */
  rateWindow: string;
  /** "Detection: Error rate >1%": below this is healthy again (the verification level). */
  detectionErrorRate: number;
  /** "Escalate if: Error rate >5%". */
  escalateErrorRate: number;
  /** "... or not resolved in 1 hour". */
  escalateAfterMs: number;
  /** Error rate below the detection level continuously this long resolves the incident. */
  resolveWindowMs: number;
  /** "Check logs: docker logs accubooks-api --tail 200". */
  logLines: number;
  dbTimeoutMs: number;
  redisTimeoutMs: number;
  /**
   * "Restart if needed": at most this many restarts in one incident (each also within the target
   * guard's crash-loop budget, shared by all runbooks).
   */
  maxRestarts: number;
  /**
   * While the error rate stays at or above the detection level this long after the last decision
   * (restart or not), "if needed" is decided again, with fresh database and Redis checks.
   */
  reconsiderRestartAfterMs: number;
  stopTimeoutSec: number;
  sampleIntervalMs: number;
  maxSampleIntervalMs: number;
}

/** The alert rule's error rate, for the incident's target. */
export const DEFAULT_ERROR_RATE_QUERY = errorRateQuery(TARGET_SCOPE);

export const highErrorRateDefaults: HighErrorRatePolicy = {
  ...commonDefaults,
  errorRateQuery: DEFAULT_ERROR_RATE_QUERY,
  rateWindow: RATE_WINDOW,
  detectionErrorRate: 0.01,
  escalateErrorRate: 0.05,
  escalateAfterMs: 60 * 60_000,
  resolveWindowMs: 5 * 60_000,
  logLines: 200,
  dbTimeoutMs: 5_000,
  redisTimeoutMs: 5_000,
  maxRestarts: 3,
  reconsiderRestartAfterMs: 10 * 60_000,
  stopTimeoutSec: 10,
  sampleIntervalMs: 30_000,
  maxSampleIntervalMs: 5 * 60_000,
};
