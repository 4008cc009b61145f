/**
 * "Verify: health returns 200" after a start or restart, as one recorded check: the polling runs
 * inside one heartbeating activity, so a long window costs a handful of history events. In a dry
 * run after a planned action it is not read: assumed healthy (`assumedHealthy`, dry-run.ts).
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
  const assumed = assumedHealthy(inc, step);
  if (assumed) return Promise.resolve(assumed);
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

/**
 * A dry run after a planned action: "health returns 200" is planned as assumed, not read, and its
 * success value is returned (what the real check gives when the fix worked); otherwise undefined.
 */
export function assumedHealthy(
  inc: Incident,
  step: { name: string; title: string },
): (HealthResult & { attempts: number }) | undefined {
  if (!assumedStep(inc, step, 'health returns 200')) return undefined;
  return { healthy: true, status: 200, latencyMs: 0, checkedAt: new Date().toISOString(), attempts: 0 };
}

/**
 * A check of a planned action's effect, as one step: in a dry run after a planned action it is
 * planned as assumed (`condition`) and shown as a skipped step, and true is returned (the caller
 * gives the check's success value); otherwise false, and the caller reads it.
 */
export function assumedStep(
  inc: Incident,
  step: { name: string; title: string },
  condition: string,
): boolean {
  if (!inc.rehearsal?.assumeVerified(inc.state, step.title, condition)) return false;
  inc.skip(step.name, step.title, `dry run: would verify (assumed: ${condition})`);
  return true;
}
