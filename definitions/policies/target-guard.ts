/** The target guard's limits: the crash-loop budget, how long a grant lasts, when it closes. */
export interface TargetLeasePolicy {
  /** Restarts of one target allowed within `restartWindowMs` (all runbooks together). */
  maxRestarts: number;
  restartWindowMs: number;
  /** How long a granted action may take before the guard stops waiting for its report. */
  leaseMs: number;
  /** The guard closes after this long with nothing held, in flight or recent. */
  idleCloseMs: number;
  /**
   * Another runbook's restart granted this long before a restart request (or any time after it was
   * decided) covers it: the requester saw the problem before that restart could help. Not for a
   * restart that must follow a change (`afterChange`): only a later one covers that.
   */
  coverWindowMs: number;
}

export const targetLeaseDefaults: TargetLeasePolicy = {
  maxRestarts: 3,
  restartWindowMs: 15 * 60_000,
  leaseMs: 10 * 60_000,
  idleCloseMs: 24 * 60 * 60_000,
  coverWindowMs: 60_000,
};
