/**
 * The application's database, seen from the runbook role's own small pool: `SELECT 1`, the pool as
 * the API reports it (`/api/monitoring/pool-config`) cross-checked with `pg_stat_activity`, idle
 * sessions terminated, slow queries listed, cancelled and terminated.
 *
 * Scope, always: the database the runbook pool is connected to (the application's), sessions of
 * the application's roles only (worker configuration: ACCUBOOKS_DB_ROLES; optionally only one
 * application_name: one API instance), and never the runbook's own session. The role needs
 * pg_signal_backend and pg_monitor, nothing more.
 */
import { Context, log, sleep } from '@temporalio/activity';
import type { Pool } from 'pg';
import { apiUrlFor } from './health';
import { describeError, FailureType, nonRetryable, retryable } from '../definitions/errors';
import type { DatabaseCheck, PoolReport, SlowQuery, TerminatedSession } from '../definitions/observations';

export interface PostgresDeps {
  pg: Pool;
  /** API base URL per target container (the same map the health checks use). */
  apiUrls: Record<string, string>;
  /** The application's database roles (ACCUBOOKS_DB_ROLES): only their sessions are ever touched. */
  appRoles: readonly string[];
  fetch?: typeof fetch;
}

/** Which of the application's sessions (the roles come from the worker's configuration). */
export interface SessionScope {
  /** Only sessions with exactly this application_name (one API instance), when set. */
  applicationName?: string;
}

/** P0-2 "Kill idle connections": what was terminated, and what the scope matched at all. */
export interface IdleTermination {
  terminated: TerminatedSession[];
  count: number;
  /** The roles the scope is limited to (ACCUBOOKS_DB_ROLES). */
  roles: string[];
  /**
   * Sessions of those roles in the scope (any state), besides the runbook's own. 0 means the scope
   * matched nothing: a wrong role setting, not "no idle session older than the threshold".
   */
  matchedSessions: number;
  /** Sessions of other roles idle longer than the threshold, left alone (a hint when nothing matched). */
  idleOtherRoles: number;
}

export interface KillResult {
  /** Queries signalled (cancel or terminate) that were still the same query when signalled. */
  signalled: number[];
  /** Queries no longer running when checked after the grace period. */
  ended: number[];
  /** Still running the same query after the grace period. */
  stillRunning: SlowQuery[];
  /** Pids skipped: already gone, another query by now, or outside the application's scope. */
  skipped: number[];
}

const MAX_QUERY_TEXT = 200;

/**
 * Query text safe for history and logs: literals replaced (strings, dollar-quoted, numbers,
 * booleans left alone), whitespace collapsed, truncated.
 */
export function sanitizeQuery(text: string, max = MAX_QUERY_TEXT): string {
  const masked = text
    .replace(/\$([A-Za-z_]\w*)?\$[\s\S]*?\$\1\$/g, '?') // $$...$$ and $tag$...$tag$
    .replace(/\b[EeBbXxUu]&?'(?:[^'\\]|\\.|'')*'/g, '?') // E'..', B'..', X'..', U&'..'
    .replace(/'(?:[^']|'')*'/g, '?') // '...'
    .replace(/(?<![\w$])-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?\b/g, '?') // numbers (not $1 or names)
    .replace(/\s+/g, ' ')
    .trim();
  return masked.length > max ? `${masked.slice(0, max)}…` : masked;
}

/** Builds the scope clause: app database, app roles, optional application_name, never ourselves. */
function scopeSql(
  roles: readonly string[],
  scope: SessionScope,
  firstParam: number,
): { sql: string; params: unknown[] } {
  const params: unknown[] = [roles];
  let sql = `datname = current_database() AND usename = ANY($${firstParam}::text[]) AND pid <> pg_backend_pid()`;
  if (scope.applicationName !== undefined) {
    params.push(scope.applicationName);
    sql += ` AND application_name = $${firstParam + 1}`;
  }
  return { sql, params };
}

function dbFailure(what: string, err: unknown): Error {
  return retryable(
    FailureType.DependencyUnavailable,
    `${what}: ${describeError(err)}`,
    err instanceof Error ? err : undefined,
  );
}

interface SlowRow {
  pid: number;
  /** As text: microsecond precision, so it can identify the query exactly. */
  query_start: string;
  backend_start: string;
  duration_ms: string;
  application_name: string;
  query: string;
}

const toSlow = (r: SlowRow): SlowQuery => ({
  pid: r.pid,
  queryStart: r.query_start,
  backendStart: r.backend_start,
  durationMs: Math.round(Number(r.duration_ms)),
  applicationName: r.application_name,
  query: sanitizeQuery(r.query),
});

/**
 * Start-up check of ACCUBOOKS_DB_ROLES: the configured roles that do not exist in the database (a
 * typo would make P0-2 terminate nothing). null when the database does not answer within the
 * timeout: the worker still starts (a runbook worker must run while the database is in trouble).
 */
export async function missingAppRoles(
  pg: Pool,
  roles: readonly string[],
  timeoutMs = 5_000,
): Promise<string[] | null> {
  let timer: NodeJS.Timeout | undefined;
  try {
    const { rows } = await Promise.race([
      pg.query<{ role: string }>(
        'SELECT r AS role FROM unnest($1::text[]) AS r WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r)',
        [roles],
      ),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error('timeout')), timeoutMs);
      }),
    ]);
    return rows.map((r) => r.role);
  } catch {
    return null;
  } finally {
    clearTimeout(timer);
  }
}

/** The roles in scope (validated), what every factory below shares. */
interface Scoped extends PostgresDeps {
  roles: string[];
}

/** P1-1 and P0-2/P1-2: does the database answer, and how full is the application's pool. */
const createPoolActivities = (deps: Scoped) => {
  const doFetch = deps.fetch ?? fetch;
  const { roles } = deps;
  const rolesText = roles.join(', ');

  async function sessions(scope: SessionScope): Promise<PoolReport['database']> {
    const { sql, params } = scopeSql(roles, scope, 1);
    const { rows } = await deps.pg.query<{ state: string | null; n: number }>(
      `SELECT state, count(*)::int AS n FROM pg_stat_activity WHERE ${sql} GROUP BY state`,
      params,
    );
    const by = (s: string) => rows.find((r) => r.state === s)?.n ?? 0;
    const total = rows.reduce((a, r) => a + r.n, 0);
    const idle = by('idle');
    const active = by('active');
    const idleInTransaction = by('idle in transaction') + by('idle in transaction (aborted)');
    return { total, idle, active, idleInTransaction, other: total - idle - active - idleInTransaction };
  }

  return {
    /** P1-1 "Check database: SELECT 1". A database that does not answer is a finding, not a failure. */
    async checkDatabase(input: { timeoutMs: number }): Promise<DatabaseCheck> {
      const started = Date.now();
      const checkedAt = new Date(started).toISOString();
      try {
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([
          deps.pg.query('SELECT 1').finally(() => clearTimeout(timer)),
          new Promise((_, reject) => {
            timer = setTimeout(
              () => reject(new Error(`no answer within ${input.timeoutMs} ms`)),
              input.timeoutMs,
            );
          }),
        ]);
        return { ok: true, latencyMs: Date.now() - started, checkedAt };
      } catch (err) {
        return { ok: false, latencyMs: Date.now() - started, error: describeError(err), checkedAt };
      }
    },

    /**
     * P0-2 "Check pool" (and P1-2 "pool utilization"): the API's `/api/monitoring/pool-config`,
     * cross-checked with the application's sessions in `pg_stat_activity`.
     */
    async checkPool(input: SessionScope & { target: string; timeoutMs: number }): Promise<PoolReport> {
      const url = `${apiUrlFor(deps.apiUrls, input.target)}/api/monitoring/pool-config`;
      let api: PoolReport['api'];
      try {
        const res = await doFetch(url, { signal: AbortSignal.timeout(input.timeoutMs) });
        if (!res.ok) throw new Error(`HTTP ${res.status}`);
        const body = (await res.json()) as Partial<PoolReport['api']>;
        const max = Number(body.max);
        const inUse = Number(body.inUse);
        if (!Number.isFinite(max) || max <= 0 || !Number.isFinite(inUse)) {
          throw new Error('pool-config answer has no usable max/inUse');
        }
        api = {
          max,
          inUse,
          total: Number(body.total ?? inUse),
          idle: Number(body.idle ?? 0),
          waiting: Number(body.waiting ?? 0),
          utilization: Number.isFinite(Number(body.utilization)) ? Number(body.utilization) : inUse / max,
        };
      } catch (err) {
        throw retryable(
          FailureType.DependencyUnavailable,
          `Pool check of ${input.target} failed: ${describeError(err)}`,
          err instanceof Error ? err : undefined,
        );
      }
      let database: PoolReport['database'];
      try {
        database = await sessions(input);
      } catch (err) {
        throw dbFailure('pg_stat_activity cross-check failed', err);
      }
      // Only comparable when scoped to this instance: with many instances the server sees them all.
      const comparable = input.applicationName !== undefined;
      const consistent = !comparable || database.total === api.total;
      const note = comparable
        ? `API reports ${api.total} open (${api.inUse} in use of ${api.max}); server sees ${database.total} sessions of ${input.applicationName} (${database.idle} idle, ${database.active} active)`
        : `API reports ${api.total} open (${api.inUse} in use of ${api.max}); server sees ${database.total} sessions of role ${rolesText} across all instances`;
      return { api, database, consistent, note, checkedAt: new Date().toISOString() };
    },
  };
};

/** P0-2 "Kill idle connections". */
const createIdleSessionActivities = (deps: Scoped) => {
  const { roles } = deps;
  return {
    /**
     * P0-2 "Kill idle connections", the seed's query narrowed to the application's sessions:
     *   SELECT pg_terminate_backend(pid) FROM pg_stat_activity
     *    WHERE state = 'idle' AND now() - state_change > interval '5 minutes'
     *      AND datname = current_database() AND usename = ANY(<app roles>) AND pid <> pg_backend_pid()
     * Also counts what the scope matched at all, so "0 idle sessions older than 5 minutes" is told
     * apart from "no session of these roles" (a role setting that matches nothing terminates nothing).
     * Idempotent: a retry terminates whatever still qualifies, which is what the step asks for.
     */
    async terminateIdleSessions(
      input: SessionScope & { idleForMs: number; reason: string },
    ): Promise<IdleTermination> {
      if (!Number.isFinite(input.idleForMs) || input.idleForMs < 0) {
        throw nonRetryable(FailureType.InvalidInput, `idleForMs must be >= 0, got ${input.idleForMs}`);
      }
      const { sql, params } = scopeSql(roles, input, 2);
      let result: IdleTermination;
      try {
        // Counted before terminating: the matched sessions include those about to be terminated.
        const where = input.applicationName === undefined ? '' : 'AND application_name = $3';
        const { rows: counts } = await deps.pg.query<{ matched: number; idle_other: number }>(
          `SELECT count(*) FILTER (WHERE usename = ANY($2::text[]))::int AS matched,
                  count(*) FILTER (WHERE NOT (usename = ANY($2::text[])) AND state = 'idle'
                    AND now() - state_change > make_interval(secs => $1::double precision / 1000))::int AS idle_other
             FROM pg_stat_activity
            WHERE datname = current_database() AND pid <> pg_backend_pid()
              AND backend_type = 'client backend' ${where}`,
          [input.idleForMs, ...params],
        );
        const { rows } = await deps.pg.query<{
          pid: number;
          application_name: string;
          idle_seconds: string;
          terminated: boolean;
        }>(
          `SELECT pid, application_name,
                  extract(epoch FROM now() - state_change) AS idle_seconds,
                  pg_terminate_backend(pid) AS terminated
             FROM pg_stat_activity
            WHERE state = 'idle'
              AND now() - state_change > make_interval(secs => $1::double precision / 1000)
              AND ${sql}`,
          [input.idleForMs, ...params],
        );
        const terminated = rows.map((r) => ({
          pid: r.pid,
          applicationName: r.application_name,
          idleSeconds: Math.round(Number(r.idle_seconds)),
          terminated: r.terminated,
        }));
        result = {
          terminated,
          count: terminated.filter((t) => t.terminated).length,
          roles,
          matchedSessions: Math.max(counts[0]?.matched ?? 0, terminated.length),
          idleOtherRoles: counts[0]?.idle_other ?? 0,
        };
      } catch (err) {
        throw dbFailure('Terminating idle sessions failed', err);
      }
      log.info('terminated idle application sessions', {
        count: result.count,
        matchedSessions: result.matchedSessions,
        reason: input.reason,
      });
      return result;
    },
  };
};

/** The running queries of `targets` that are still the same query (pid + query_start). */
async function stillRunning(deps: Scoped, scope: SessionScope, targets: SlowQuery[]): Promise<SlowQuery[]> {
  if (targets.length === 0) return [];
  const { sql, params } = scopeSql(deps.roles, scope, 2);
  const { rows } = await deps.pg.query<SlowRow>(
    `SELECT pid, query_start::text AS query_start, backend_start::text AS backend_start,
            extract(epoch FROM clock_timestamp() - query_start) * 1000 AS duration_ms,
            application_name, query
       FROM pg_stat_activity
      WHERE pid = ANY($1::int[]) AND state = 'active' AND ${sql}`,
    [targets.map((t) => t.pid), ...params],
  );
  return rows
    .map(toSlow)
    .filter((r) => targets.some((t) => t.pid === r.pid && t.queryStart === r.queryStart));
}

async function signal(
  deps: Scoped,
  fn: 'pg_cancel_backend' | 'pg_terminate_backend',
  scope: SessionScope,
  targets: SlowQuery[],
): Promise<{ signalled: number[]; skipped: number[] }> {
  const { sql, params } = scopeSql(deps.roles, scope, 3);
  const signalled: number[] = [];
  const skipped: number[] = [];
  for (const t of targets) {
    // Same pid AND same query start: never signal a newer query that reused the backend.
    const { rows } = await deps.pg.query<{ ok: boolean }>(
      `SELECT ${fn}(pid) AS ok FROM pg_stat_activity
        WHERE pid = $1 AND query_start = $2::timestamptz AND state = 'active' AND ${sql}`,
      [t.pid, t.queryStart, ...params],
    );
    if (rows[0]?.ok) signalled.push(t.pid);
    else skipped.push(t.pid);
  }
  return { signalled, skipped };
}

async function waitEnded(
  deps: Scoped,
  scope: SessionScope,
  targets: SlowQuery[],
  graceMs: number,
): Promise<{ ended: number[]; stillRunning: SlowQuery[] }> {
  const deadline = Date.now() + graceMs;
  let running = await stillRunning(deps, scope, targets);
  while (running.length > 0 && Date.now() < deadline) {
    Context.current().heartbeat({ stillRunning: running.length });
    await sleep(Math.min(250, Math.max(1, deadline - Date.now())));
    running = await stillRunning(deps, scope, targets);
  }
  const runningPids = new Set(running.map((r) => r.pid));
  return { ended: targets.map((t) => t.pid).filter((p) => !runningPids.has(p)), stillRunning: running };
}

/** Signals the queries still running, then waits up to the grace period for them to end. */
async function kill(
  deps: Scoped,
  fn: 'pg_cancel_backend' | 'pg_terminate_backend',
  input: SessionScope & { queries: SlowQuery[]; graceMs: number },
  failure: string,
): Promise<KillResult> {
  try {
    const { signalled, skipped } = await signal(deps, fn, input, input.queries);
    const targets = input.queries.filter((q) => signalled.includes(q.pid));
    const { ended, stillRunning: still } = await waitEnded(deps, input, targets, input.graceMs);
    return { signalled, ended, stillRunning: still, skipped };
  } catch (err) {
    throw dbFailure(failure, err);
  }
}

/** P1-2: the application's slow queries, listed, cancelled and terminated. */
const createSlowQueryActivities = (deps: Scoped) => {
  const { roles } = deps;
  return {
    /**
     * P1-2 "Check slow queries": the application's active queries running longer than the threshold,
     * with pid, duration and the query text truncated and with its literals masked.
     */
    async listSlowQueries(input: SessionScope & { minDurationMs: number }): Promise<SlowQuery[]> {
      const { sql, params } = scopeSql(roles, input, 2);
      try {
        const { rows } = await deps.pg.query<SlowRow>(
          `SELECT pid, query_start::text AS query_start, backend_start::text AS backend_start,
                  extract(epoch FROM clock_timestamp() - query_start) * 1000 AS duration_ms,
                  application_name, query
             FROM pg_stat_activity
            WHERE state = 'active'
              AND clock_timestamp() - query_start > make_interval(secs => $1::double precision / 1000)
              AND ${sql}
            ORDER BY query_start`,
          [input.minDurationMs, ...params],
        );
        return rows.map(toSlow);
      } catch (err) {
        throw dbFailure('Listing slow queries failed', err);
      }
    },

    /** P1-2 "Kill slow queries", first and gentle: pg_cancel_backend, then wait for them to end. */
    async cancelQueries(
      input: SessionScope & { queries: SlowQuery[]; graceMs: number },
    ): Promise<KillResult> {
      return kill(deps, 'pg_cancel_backend', input, 'Cancelling slow queries failed');
    },

    /** P1-2 "Kill slow queries", when cancel did not end them: pg_terminate_backend. */
    async terminateQueries(
      input: SessionScope & { queries: SlowQuery[]; graceMs: number },
    ): Promise<KillResult> {
      return kill(deps, 'pg_terminate_backend', input, 'Terminating slow queries failed');
    },
  };
};

export const createPostgresActivities = (deps: PostgresDeps) => {
  const roles = [...deps.appRoles];
  if (roles.length === 0 || roles.some((r) => !r)) {
    throw new Error('The application database roles (ACCUBOOKS_DB_ROLES) must be given');
  }
  const scoped: Scoped = { ...deps, roles };
  return {
    ...createPoolActivities(scoped),
    ...createIdleSessionActivities(scoped),
    ...createSlowQueryActivities(scoped),
  };
};
