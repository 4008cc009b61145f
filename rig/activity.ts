/** Runs an activity function inside a real activity context (heartbeats, logger, cancellation). */
import { MockActivityEnvironment } from '@temporalio/testing';

const ctx = new MockActivityEnvironment();

export function runActivity<A extends unknown[], R>(fn: (...args: A) => Promise<R>, ...args: A): Promise<R> {
  return ctx.run<A, R, (...args: A) => Promise<R>>(fn, ...args);
}
