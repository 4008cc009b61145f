/**
 * Crash hook for the worker-crash harness (test/chaos/), loaded only by the test entry point
 * rig/chaos/worker.ts, never by dist/worker/main.js. Off unless CHAOS_MODE=1 or
 * CHAOS_KILL_AT is set; never set them in production.
 *
 *   CHAOS_KILL_AT=<activityType>[,<activityType>…][:<n>][:before]  SIGKILL this process at the
 *       n-th (default 1st) start in this process of one of those activity types: after the activity
 *       body returned and before its result reaches the server (default), or before the body runs
 *       (`:before`). With several types, whichever such activity finishes first.
 *   CHAOS_MARKER=<file>   a JSON line naming the activity is appended there just before the kill.
 *   CHAOS_MODE=1          only the crash detection below (for the worker started after a kill).
 *
 * Crash detection: a killed worker's activity is otherwise noticed only at its start-to-close timeout
 * (minutes). In chaos mode every activity heartbeats each second (CHAOS_HEARTBEAT_EVERY_MS) and
 * the workflow interceptor in workflow-interceptors.ts caps every activity's heartbeat timeout
 * at 5 s, so the server retries it on the next worker within seconds. Nothing else changes.
 */
import { appendFileSync } from 'node:fs';
import type { Context } from '@temporalio/activity';
import type { ActivityInboundCallsInterceptor, WorkerOptions } from '@temporalio/worker';

export interface ChaosSettings {
  killAt?: { activityTypes: string[]; nth: number; phase: 'before' | 'after' };
  marker?: string;
  heartbeatEveryMs: number;
}

export function chaosFromEnv(
  env: Record<string, string | undefined> = process.env,
): ChaosSettings | undefined {
  const killAt = env.CHAOS_KILL_AT?.trim();
  if (!killAt && env.CHAOS_MODE !== '1') return undefined;
  let parsed: ChaosSettings['killAt'];
  if (killAt) {
    const [types, ...rest] = killAt.split(':');
    const phase = rest.includes('before') ? 'before' : 'after';
    const nth = Number(rest.find((r) => /^\d+$/.test(r)) ?? 1);
    parsed = { activityTypes: types.split(',').filter(Boolean), nth, phase };
  }
  return {
    killAt: parsed,
    marker: env.CHAOS_MARKER || undefined,
    heartbeatEveryMs: Number(env.CHAOS_HEARTBEAT_EVERY_MS ?? 1000),
  };
}

/** The workflow interceptor module (bundled into the workflow code in chaos mode). */
export const chaosWorkflowModule = require.resolve('./workflow-interceptors');

export function chaosInterceptors(chaos: ChaosSettings): NonNullable<WorkerOptions['interceptors']> {
  const seen = new Map<string, number>();
  const die = (ctx: Context, phase: string) => {
    const { activityType, activityId, attempt, workflowExecution } = ctx.info;
    if (chaos.marker) {
      appendFileSync(
        chaos.marker,
        `${JSON.stringify({ activityType, activityId, attempt, workflowId: workflowExecution?.workflowId, phase, pid: process.pid, at: new Date().toISOString() })}\n`,
      );
    }
    process.kill(process.pid, 'SIGKILL');
  };
  return {
    activity: [
      (ctx: Context) => {
        const inbound: ActivityInboundCallsInterceptor = {
          async execute(input, next) {
            const type = ctx.info.activityType;
            const n = (seen.get(type) ?? 0) + 1;
            seen.set(type, n);
            const kill = !!chaos.killAt?.activityTypes.includes(type) && n === chaos.killAt.nth;
            if (kill && chaos.killAt?.phase === 'before') die(ctx, 'before');
            const beat = setInterval(() => ctx.heartbeat(), chaos.heartbeatEveryMs);
            try {
              const result = await next(input);
              if (kill) die(ctx, 'after');
              return result;
            } finally {
              clearInterval(beat);
            }
          },
        };
        return { inbound };
      },
    ],
  };
}
