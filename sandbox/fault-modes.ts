/**
 * What each injected fault does to the running app (the FaultRegistry's hooks): crash exits,
 * hang holds application requests, leak-pool checks out connections it never releases,
 * queue-flood floods the forecast queue; the others only change how requests are answered.
 */
import type { Pool, PoolClient } from 'pg';
import type { PoolStats } from './db';
import type { FaultSpec } from './faults';
import type { Forecast } from './forecast';
import { errorMessage, type Logger } from './log';

export interface FaultModesDeps {
  log: Logger;
  pool: Pool;
  forecast: Forecast;
  poolStats(): PoolStats;
}

export class FaultModes {
  /** Pool clients checked out by leak-pool, released when the fault is cleared. */
  readonly leaked: PoolClient[] = [];
  /** Requests held by hang, resumed when the fault is cleared. */
  readonly held = new Set<() => void>();

  constructor(private readonly deps: FaultModesDeps) {}

  async apply(spec: FaultSpec): Promise<Record<string, unknown>> {
    const { log, forecast } = this.deps;
    switch (spec.fault) {
      case 'crash':
        log.fatal('crash fault injected: exiting with status 1');
        setTimeout(() => process.exit(1), 200);
        return { exitingInMs: 200 };
      case 'hang':
        log.warn('hang fault injected: application requests will not be answered');
        return {};
      case 'fail-health':
        log.warn('fail-health fault injected', { reason: spec.reason ?? null });
        return {};
      case 'leak-pool':
        return this.leakConnections(spec.count);
      case 'error-rate':
        log.warn('error-rate fault injected', { rate: spec.rate });
        return {};
      case 'slow-queries':
        log.warn('slow-queries fault injected', {
          seconds: spec.seconds,
          probability: spec.probability ?? 1,
        });
        return {};
      case 'queue-flood': {
        const details: Record<string, unknown> = {};
        if (spec.jobs) details.depth = await forecast.push(spec.jobs, 'queue-flood');
        forecast.floodRate = spec.ratePerSecond ?? 0;
        log.warn('queue-flood fault injected', {
          jobs: spec.jobs ?? 0,
          ratePerSecond: spec.ratePerSecond ?? 0,
        });
        return { pushed: spec.jobs ?? 0, ...details };
      }
    }
  }

  async clear(spec: FaultSpec): Promise<void> {
    this.deps.log.info('fault cleared', { fault: spec.fault });
    switch (spec.fault) {
      case 'hang': {
        const resumes = [...this.held];
        this.held.clear();
        for (const resume of resumes) resume();
        return;
      }
      case 'leak-pool':
        this.releaseLeaked();
        return;
      case 'queue-flood':
        this.deps.forecast.floodRate = 0;
        return;
      default:
        await Promise.resolve();
    }
  }

  releaseLeaked(): void {
    for (const client of this.leaked.splice(0)) client.release(true);
  }

  /** Checks out `count` pool clients and never releases them; they sit idle in pg_stat_activity. */
  private async leakConnections(count: number): Promise<Record<string, unknown>> {
    const { log, pool } = this.deps;
    const results = await Promise.allSettled(
      Array.from({ length: count }, async () => {
        const client = await pool.connect();
        client.on('error', (err) =>
          log.warn('leaked connection lost (still checked out of the pool)', {
            error: errorMessage(err),
          }),
        );
        this.leaked.push(client);
        await client.query("SELECT 'sandbox leaked connection' AS leak");
      }),
    );
    const failed = results.filter((r) => r.status === 'rejected');
    const stats = this.deps.poolStats();
    log.warn('leak-pool fault injected: connections checked out and never released', {
      requested: count,
      leaked: count - failed.length,
      failed: failed.length,
      inUse: stats.inUse,
      max: stats.max,
      utilization: stats.utilization,
    });
    if (failed.length > 0 && failed[0]?.status === 'rejected') {
      log.error('could not leak every requested connection', { error: errorMessage(failed[0].reason) });
    }
    return { leaked: count - failed.length, failed: failed.length, pool: stats };
  }
}
