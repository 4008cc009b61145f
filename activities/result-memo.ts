/**
 * Once across attempts: an activity whose side effect cannot be repeated safely (a chat message,
 * an email, an approval code, terminated sessions that a retry can no longer see) records its
 * result under its own execution (workflow run + activity ID) as soon as it is done. When the worker
 * dies after the work but before the result reached Temporal, the retry returns that result instead
 * of doing the work again. Found by the worker-crash harness (test/chaos/crash.test.ts).
 *
 * Best effort: without the store (Redis down) the activity simply runs again (at least once, as
 * before). What is left is the moment between the side effect and the record (milliseconds).
 */
import { Context, log } from '@temporalio/activity';
import type { Redis } from 'ioredis';
import { describeError } from '../definitions/errors';

export interface ResultMemo {
  get(key: string): Promise<string | null>;
  set(key: string, value: string): Promise<void>;
}

/** Results kept in Redis for a week (longer than any retry), under `abk:activity-result:`. */
export function redisResultMemo(redis: Redis, ttlSec = 7 * 24 * 3600): ResultMemo {
  const ready = async () => {
    // lazyConnect clients connect on first use; offline queueing is off, so connect explicitly.
    if (redis.status === 'wait' || redis.status === 'end') await redis.connect();
  };
  return {
    async get(key) {
      await ready();
      return redis.get(key);
    },
    async set(key, value) {
      await ready();
      await redis.set(key, value, 'EX', ttlSec);
    },
  };
}

function executionKey(): { key: string; attempt: number } | undefined {
  try {
    const { workflowExecution, activityId, attempt } = Context.current().info;
    if (!workflowExecution) return undefined;
    return {
      key: `abk:activity-result:${workflowExecution.workflowId}/${workflowExecution.runId}/${activityId}`,
      attempt,
    };
  } catch {
    return undefined; // called outside an activity (unit tests): no memo
  }
}

/**
 * Runs `fn` unless an earlier attempt of this activity execution already did and recorded it. With
 * `part`, one part of the activity is recorded on its own (see oncePart).
 */
export async function onceAcrossAttempts<T>(
  memo: ResultMemo | undefined,
  what: string,
  fn: () => Promise<T>,
  part?: string,
): Promise<T> {
  const exec = memo ? executionKey() : undefined;
  if (!memo || !exec) return fn();
  const key = part === undefined ? exec.key : `${exec.key}#${part}`;
  if (exec.attempt > 1) {
    try {
      const earlier = await memo.get(key);
      if (earlier !== null) {
        log.info(`${what}: already done by an earlier attempt; returning its result`, { what });
        return JSON.parse(earlier) as T;
      }
    } catch (err) {
      log.warn(`${what}: cannot read earlier attempts (${describeError(err)}); doing it again`, { what });
    }
  }
  const result = await fn();
  try {
    await memo.set(key, JSON.stringify(result));
  } catch (err) {
    log.warn(`${what}: done, but not recorded for a retry (${describeError(err)})`, { what });
  }
  return result;
}

/** The same activities, with the named ones run once across attempts. */
export function withOnceAcrossAttempts<A extends object>(
  memo: ResultMemo | undefined,
  activities: A,
  names: readonly (keyof A & string)[],
): A {
  if (!memo) return activities;
  const wrapped = { ...activities } as Record<string, unknown>;
  for (const name of names) {
    const fn = activities[name] as unknown as (...args: unknown[]) => Promise<unknown>;
    wrapped[name] = (...args: unknown[]) => onceAcrossAttempts(memo, name, () => fn(...args));
  }
  return wrapped as A;
}

/**
 * One part of an activity (a channel of a notification) done at most once across its attempts: an
 * attempt killed between two channels must not send the first one again on the retry. A part done
 * by an earlier attempt is skipped (it was delivered then). Without the store it simply runs.
 */
export async function oncePart(
  memo: ResultMemo | undefined,
  part: string,
  fn: () => Promise<void>,
): Promise<void> {
  // `true` is recorded: a void result has no JSON to store.
  await onceAcrossAttempts(
    memo,
    part,
    async () => {
      await fn();
      return true;
    },
    part,
  );
}
