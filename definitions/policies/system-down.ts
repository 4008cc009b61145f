import { commonDefaults, type CommonPolicy } from './common';

/** P0-1 System down. */
export interface SystemDownPolicy extends CommonPolicy {
  /** "Escalate if: Not resolved in 15 minutes". */
  escalateAfterMs: number;
  healthTimeoutMs: number;
  /** "Check logs: docker logs accubooks-api --tail 100". */
  logLines: number;
  /** Seconds docker waits for a clean stop before killing on restart. */
  stopTimeoutSec: number;
  /** "Verify: Health returns 200", polled within this window after each restart. */
  verifyWindowMs: number;
  verifyIntervalMs: number;
  /** Restarts this runbook may make in one incident before only watching and escalating. */
  maxRestarts: number;
}

export const systemDownDefaults: SystemDownPolicy = {
  ...commonDefaults,
  escalateAfterMs: 15 * 60_000,
  healthTimeoutMs: 5_000,
  logLines: 100,
  stopTimeoutSec: 10,
  verifyWindowMs: 2 * 60_000,
  verifyIntervalMs: 2_000,
  maxRestarts: 3,
};
