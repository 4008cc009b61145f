/**
 * "Verify: health returns 200" after a start or restart, as one recorded check: the polling runs
 * inside one heartbeating activity, so a long window costs a handful of history events.
 */
import { polls } from './activity-proxies';
import { Incident, withSummary } from './incident';
import type { HealthResult } from '../definitions/observations';

export interface VerifyHealthPolicy {
  verifyWindowMs: number;
  verifyIntervalMs: number;
  healthTimeoutMs: number;
}

export function verifyHealthy(
  inc: Incident,
  target: string,
  step: { name: string; title: string },
  policy: VerifyHealthPolicy,
): Promise<(HealthResult & { attempts: number }) | undefined> {
  return inc.check(
    step.name,
    step.title,
    () =>
      withSummary(polls.waitForHealthy, `Wait for ${target} to answer health 200`, {
        target,
        windowMs: policy.verifyWindowMs,
        intervalMs: policy.verifyIntervalMs,
        timeoutMs: policy.healthTimeoutMs,
      }),
    (h) => (h.healthy ? `healthy after ${h.attempts} checks` : `still unhealthy: ${h.status ?? 'no answer'}`),
  );
}
