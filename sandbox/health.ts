/**
 * GET /api/monitoring/health: unhealthy while the fail-health fault is on, while starting, or
 * when the database or Redis does not answer within HEALTH_CHECK_TIMEOUT_MS (naming an exhausted
 * pool, the symptom the connection-pool runbook looks for).
 */
import type { ServerResponse } from 'node:http';
import type { Redis } from 'ioredis';
import type { Pool } from 'pg';
import type { SandboxConfig } from './config';
import type { PoolStats } from './db';
import type { FaultRegistry } from './faults';
import { send, type Ctx } from './http';
import { errorMessage } from './log';
import type { Startup } from './startup';

const HEALTH_CHECK_TIMEOUT_MS = 2000;

export interface HealthDeps {
  config: SandboxConfig;
  faults: FaultRegistry;
  startup: Startup;
  pool: Pool;
  redis: Redis;
  startedAt: number;
  poolStats(): PoolStats;
}

export async function health(deps: HealthDeps, res: ServerResponse, ctx: Ctx): Promise<void> {
  const { config, faults, startup } = deps;
  const base = { instance: config.instance, role: config.role };
  const failHealth = faults.get('fail-health');
  if (failHealth) {
    const reason = failHealth.reason ?? 'health check failing (injected fault)';
    ctx.error = reason;
    return send(res, 503, { status: 'unhealthy', reason, ...base });
  }
  if (!startup.dbReady || !startup.faultsLoaded) {
    ctx.error = startup.error;
    return send(res, 503, { status: 'unhealthy', reason: startup.error, ...base });
  }
  const [db, redis] = await Promise.all([
    check(() => deps.pool.query('SELECT 1')),
    check(() => deps.redis.ping()),
  ]);
  if (db !== 'ok' || redis !== 'ok') {
    const reason = unhealthyReason(deps.poolStats(), db, redis);
    ctx.error = reason;
    return send(res, 503, { status: 'unhealthy', reason, db, redis, ...base });
  }
  return send(res, 200, {
    status: 'ok',
    db,
    redis,
    billing: { enabled: startup.billing?.enabled ?? true, since: startup.billing?.since ?? null },
    ...base,
    uptimeSeconds: Math.round((Date.now() - deps.startedAt) / 1000),
  });
}

function unhealthyReason(pool: PoolStats, db: string, redis: string): string {
  const exhausted =
    pool.inUse >= pool.max
      ? ` (pool exhausted: ${pool.inUse}/${pool.max} in use, ${pool.waiting} waiting)`
      : '';
  return [db !== 'ok' ? `database: ${db}${exhausted}` : null, redis !== 'ok' ? `redis: ${redis}` : null]
    .filter(Boolean)
    .join('; ');
}

async function check(fn: () => Promise<unknown>): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      fn(),
      new Promise((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`no answer within ${HEALTH_CHECK_TIMEOUT_MS} ms`)),
          HEALTH_CHECK_TIMEOUT_MS,
        );
      }),
    ]);
    return 'ok';
  } catch (err) {
    return errorMessage(err);
  } finally {
    if (timer) clearTimeout(timer);
  }
}
