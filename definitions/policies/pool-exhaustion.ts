/** P0-2 Database pool exhaustion: the seed's durations and thresholds as typed, overridable defaults. */
import { commonDefaults, type CommonPolicy } from './common';

export interface PoolExhaustionPolicy extends CommonPolicy {
  /**
   * The application's database roles are the worker's configuration (ACCUBOOKS_DB_ROLES), not the
   * policy's: only their sessions are ever terminated.
   * Only sessions with this application_name (one API instance), when set; default: the whole app role. */
  applicationName?: string;
  /** "Kill idle connections: ... now() - state_change > interval '5 minutes'". */
  idleTerminateAfterMs: number;
  /** "Verify: Pool <70%". */
  verifyBelow: number;
  /** "Escalate if: Pool remains >80%". */
  escalateAbove: number;
  /** How long "remains" is: above the escalation level continuously this long after the restart. */
  remainsAboveForMs: number;
  /** Pool below `verifyBelow` continuously this long resolves the incident (the seed's 5-minute detection window). */
  resolveWindowMs: number;
  /** Verification samples: first interval, backing off to the maximum while nothing changes. */
  sampleIntervalMs: number;
  maxSampleIntervalMs: number;
  /** A pool that cannot be measured this long escalates (the check keeps being retried). */
  unmeasuredEscalateAfterMs: number;
  poolCheckTimeoutMs: number;
  stopTimeoutSec: number;
}

export const poolExhaustionDefaults: PoolExhaustionPolicy = {
  ...commonDefaults,
  idleTerminateAfterMs: 5 * 60_000,
  verifyBelow: 0.7,
  escalateAbove: 0.8,
  remainsAboveForMs: 5 * 60_000,
  resolveWindowMs: 5 * 60_000,
  sampleIntervalMs: 15_000,
  maxSampleIntervalMs: 2 * 60_000,
  unmeasuredEscalateAfterMs: 5 * 60_000,
  poolCheckTimeoutMs: 5_000,
  stopTimeoutSec: 10,
};
