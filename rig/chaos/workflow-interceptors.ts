/**
 * Chaos mode only (rig/chaos/hooks.ts): caps every activity's heartbeat timeout at 5 s, so an activity
 * whose worker was killed is retried within seconds instead of at its start-to-close timeout. The
 * activities heartbeat each second in chaos mode. Bundled into the workflow code only in chaos mode.
 */
import type { WorkflowInterceptorsFactory } from '@temporalio/workflow';

const CAP_MS = 5_000;

const ms = (v: string | number | undefined): number | undefined => {
  if (v === undefined) return undefined;
  if (typeof v === 'number') return v;
  const m = /^(\d+(?:\.\d+)?)\s*(ms|s|seconds?|m|minutes?|h|hours?)?$/.exec(v.trim());
  if (!m) return undefined;
  const n = Number(m[1]);
  const unit = m[2] ?? 'ms';
  if (unit === 'ms') return n;
  if (unit.startsWith('s')) return n * 1000;
  if (unit.startsWith('m')) return n * 60_000;
  return n * 3_600_000;
};

export const interceptors: WorkflowInterceptorsFactory = () => ({
  outbound: [
    {
      scheduleActivity(input, next) {
        const current = ms(input.options.heartbeatTimeout);
        const heartbeatTimeout = current === undefined ? CAP_MS : Math.min(current, CAP_MS);
        return next({ ...input, options: { ...input.options, heartbeatTimeout } });
      },
    },
  ],
});
