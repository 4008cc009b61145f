/**
 * What the checks observe, as the activities return it and the runbooks record it in the incident's
 * state (`state.checks`, definitions/checks.ts): health, containers, the database, Redis, billing.
 */

export interface ContainerState {
  name: string;
  running: boolean;
  status: string;
  exitCode: number;
  restartCount: number;
  startedAt: string;
  finishedAt: string;
}

export interface HealthResult {
  healthy: boolean;
  /** HTTP status, or null when the API could not be reached at all. */
  status: number | null;
  reason?: string;
  latencyMs: number;
  checkedAt: string;
}

export interface BillingSwitch {
  key: string;
  enabled: boolean;
  updatedAt: string;
  updatedBy: string | null;
}

export interface AppBillingStatus {
  enabled: boolean;
  since: string | null;
  key: string | null;
}

export interface DatabaseCheck {
  ok: boolean;
  latencyMs: number;
  error?: string;
  checkedAt: string;
}

export interface TerminatedSession {
  pid: number;
  applicationName: string;
  idleSeconds: number;
  terminated: boolean;
}

export interface PoolReport {
  /** What the API says about its own pool. */
  api: { max: number; total: number; idle: number; inUse: number; waiting: number; utilization: number };
  /** What PostgreSQL sees for the application's sessions, by state. */
  database: { total: number; idle: number; active: number; idleInTransaction: number; other: number };
  /** Cross-check: the API's open clients against the server's sessions (e.g. "API 10, server 10"). */
  consistent: boolean;
  note: string;
  checkedAt: string;
}

export interface SlowQuery {
  pid: number;
  /** Identifies the query, not only the backend: a later query on the same pid is another one. */
  queryStart: string;
  backendStart: string;
  durationMs: number;
  applicationName: string;
  /** Truncated, with literals replaced by `?`: never the values themselves. */
  query: string;
}

export interface PingResult {
  ok: boolean;
  latencyMs: number;
  reply?: string;
  error?: string;
  checkedAt: string;
}

export interface HitRate {
  /** hits / (hits + misses) over the sample interval, or since the server started when idle; null when no lookups. */
  hitRate: number | null;
  hits: number;
  misses: number;
  /** "interval" when measured between two INFO samples, "lifetime" otherwise. */
  basis: 'interval' | 'lifetime';
  lifetimeHitRate: number | null;
  checkedAt: string;
}
