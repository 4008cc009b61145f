/**
 * Health checks against the AccuBooks API (`/api/monitoring/health`).
 * A failed check is a result, not an activity failure: the runbook decides what it means.
 */
import { Context, sleep } from '@temporalio/activity';
import { describeError, nonRetryable, FailureType, redact } from '../definitions/errors';
import type { HealthResult } from '../definitions/observations';

export interface HealthDeps {
  /** Base URL of the API for each target container name. */
  apiUrls: Record<string, string>;
  fetch?: typeof fetch;
}

export function apiUrlFor(apiUrls: Record<string, string>, target: string): string {
  const url = apiUrls[target];
  if (!url) {
    throw nonRetryable(
      FailureType.UnknownTarget,
      `No API URL is configured for target "${target}"; known targets: ${Object.keys(apiUrls).join(', ') || 'none'}`,
    );
  }
  return url.replace(/\/+$/, '');
}

export async function probeHealth(
  baseUrl: string,
  timeoutMs: number,
  doFetch: typeof fetch = fetch,
): Promise<HealthResult> {
  const started = Date.now();
  const checkedAt = new Date(started).toISOString();
  try {
    const res = await doFetch(`${baseUrl}/api/monitoring/health`, { signal: AbortSignal.timeout(timeoutMs) });
    const text = await res.text();
    let reason: string | undefined;
    if (!res.ok) {
      try {
        const body = JSON.parse(text) as { reason?: unknown };
        reason = typeof body.reason === 'string' ? body.reason : undefined;
      } catch {
        reason = text.slice(0, 200);
      }
    }
    return {
      healthy: res.status === 200,
      status: res.status,
      reason: reason ? redact(reason) : undefined,
      latencyMs: Date.now() - started,
      checkedAt,
    };
  } catch (err) {
    // fetch rejects with a DOMException (not always an Error subclass) when the timeout aborts it.
    const name = (err as { name?: string }).name;
    const timedOut = name === 'TimeoutError' || name === 'AbortError';
    const cause = (err as { cause?: { code?: string } }).cause?.code;
    return {
      healthy: false,
      status: null,
      reason: timedOut ? `no answer within ${timeoutMs} ms` : (cause ?? describeError(err)),
      latencyMs: Date.now() - started,
      checkedAt,
    };
  }
}

export const createHealthActivities = (deps: HealthDeps) => ({
  /** Runbook step "Check health": one GET with a timeout. */
  async checkHealth(input: { target: string; timeoutMs: number }): Promise<HealthResult> {
    return probeHealth(apiUrlFor(deps.apiUrls, input.target), input.timeoutMs, deps.fetch);
  },

  /**
   * Runbook step "Verify: health returns 200": polls inside one activity (heartbeating) so a long
   * verification window costs a handful of history events, not one per poll.
   */
  async waitForHealthy(input: {
    target: string;
    windowMs: number;
    intervalMs: number;
    timeoutMs: number;
  }): Promise<HealthResult & { attempts: number }> {
    const url = apiUrlFor(deps.apiUrls, input.target);
    const deadline = Date.now() + input.windowMs;
    let attempts = 0;
    for (;;) {
      attempts++;
      const result = await probeHealth(url, input.timeoutMs, deps.fetch);
      Context.current().heartbeat({ attempts, last: result.status });
      if (result.healthy || Date.now() + input.intervalMs > deadline) return { ...result, attempts };
      await sleep(input.intervalMs); // throws if the workflow cancels the activity
    }
  },
});
