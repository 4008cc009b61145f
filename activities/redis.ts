/**
 * Redis, the application's cache and job queue: PING (P1-1), the hit rate from `INFO stats`
 * (P1-2), and the forecast producer's pause flag (P1-3). A Redis that does not answer PING is a
 * finding; one that cannot be read for the hit rate or the flag is a check that cannot run.
 */
import { sleep } from '@temporalio/activity';
import type { Redis } from 'ioredis';
import { describeError, FailureType, nonRetryable, retryable } from '../definitions/errors';
import type { HitRate, PingResult } from '../definitions/observations';

export interface RedisDeps {
  redis: Redis;
}

/** keyspace_hits and keyspace_misses from the text of `INFO stats`. */
export function parseKeyspaceStats(info: string): { hits: number; misses: number } {
  const field = (name: string) => {
    const m = new RegExp(`^${name}:(\\d+)`, 'm').exec(info);
    if (!m) throw new Error(`INFO stats has no ${name}`);
    return Number(m[1]);
  };
  return { hits: field('keyspace_hits'), misses: field('keyspace_misses') };
}

const ratio = (hits: number, misses: number) => (hits + misses > 0 ? hits / (hits + misses) : null);

const KEY_RE = /^[\w:.\-{}]{1,200}$/;

function validKey(key: string): void {
  if (typeof key !== 'string' || !KEY_RE.test(key)) {
    throw nonRetryable(FailureType.InvalidInput, `Invalid Redis key "${String(key)}"`);
  }
}

function unavailable(what: string, err: unknown): Error {
  return retryable(
    FailureType.DependencyUnavailable,
    `${what}: ${describeError(err)}`,
    err instanceof Error ? err : undefined,
  );
}

/** lazyConnect clients connect on first use; offline queueing is off, so connect explicitly. */
async function ensureConnected(redis: RedisDeps['redis']): Promise<void> {
  if (redis.status === 'wait' || redis.status === 'end') await redis.connect();
}

/** P1-1 and P1-2: is Redis answering, and how well is the cache doing. */
const createRedisHealthActivities = (deps: RedisDeps) => ({
  /** P1-1 "Check Redis: redis-cli ping". */
  async pingRedis(input: { timeoutMs: number }): Promise<PingResult> {
    const started = Date.now();
    const checkedAt = new Date(started).toISOString();
    let timer: NodeJS.Timeout | undefined;
    try {
      await ensureConnected(deps.redis);
      const reply = await Promise.race([
        deps.redis.ping().finally(() => clearTimeout(timer)),
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`no answer within ${input.timeoutMs} ms`)),
            input.timeoutMs,
          );
        }),
      ]);
      return { ok: reply === 'PONG', reply, latencyMs: Date.now() - started, checkedAt };
    } catch (err) {
      return { ok: false, latencyMs: Date.now() - started, error: describeError(err), checkedAt };
    }
  },

  /**
   * P1-2 "Check Redis hit rate": keyspace hits / (hits + misses) from `INFO stats`, over
   * `sampleMs` when there were lookups in it (the current rate), else since the server started.
   */
  async redisHitRate(input: { sampleMs: number }): Promise<HitRate> {
    try {
      await ensureConnected(deps.redis);
      const first = parseKeyspaceStats(await deps.redis.info('stats'));
      if (input.sampleMs > 0) await sleep(input.sampleMs);
      const second = input.sampleMs > 0 ? parseKeyspaceStats(await deps.redis.info('stats')) : first;
      const hits = second.hits - first.hits;
      const misses = second.misses - first.misses;
      const interval = hits >= 0 && misses >= 0 ? ratio(hits, misses) : null;
      const lifetime = ratio(second.hits, second.misses);
      return interval !== null
        ? {
            hitRate: interval,
            hits,
            misses,
            basis: 'interval',
            lifetimeHitRate: lifetime,
            checkedAt: new Date().toISOString(),
          }
        : {
            hitRate: lifetime,
            hits: second.hits,
            misses: second.misses,
            basis: 'lifetime',
            lifetimeHitRate: lifetime,
            checkedAt: new Date().toISOString(),
          };
    } catch (err) {
      throw unavailable('Redis INFO stats failed', err);
    }
  },
});

/** The flags the application honours (P1-3's pause of new jobs). */
const createFlagActivities = (deps: RedisDeps) => ({
  /** Reads a flag (the forecast pause flag); null when unset. */
  async readFlag(input: { key: string }): Promise<string | null> {
    validKey(input.key);
    try {
      await ensureConnected(deps.redis);
      return await deps.redis.get(input.key);
    } catch (err) {
      throw unavailable(`Reading ${input.key} failed`, err);
    }
  },

  /**
   * P1-3 "Pause new jobs": sets the flag the producer honours. Idempotent (SET of the same value).
   * Returns the previous value, so the runbook knows whether it paused or found it paused.
   */
  async setFlag(input: { key: string; value: string; reason: string }): Promise<{ previous: string | null }> {
    validKey(input.key);
    try {
      await ensureConnected(deps.redis);
      const previous = await deps.redis.getset(input.key, input.value);
      return { previous };
    } catch (err) {
      throw unavailable(`Setting ${input.key} failed`, err);
    }
  },

  /** P1-3 resume: clears the flag. Idempotent (DEL of a missing key is fine). */
  async clearFlag(input: { key: string; reason: string }): Promise<{ existed: boolean }> {
    validKey(input.key);
    try {
      await ensureConnected(deps.redis);
      return { existed: (await deps.redis.del(input.key)) > 0 };
    } catch (err) {
      throw unavailable(`Clearing ${input.key} failed`, err);
    }
  },
});

export const createRedisActivities = (deps: RedisDeps) => ({
  ...createRedisHealthActivities(deps),
  ...createFlagActivities(deps),
});
