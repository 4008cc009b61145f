/**
 * The stack's sandbox API container (ACCUBOOKS_API_URL, ACCUBOOKS_API_CONTAINER): the target of the
 * P0-1 end-to-end runs, on the dev server and on the cluster. Crash it, let P0-1 restart it, check.
 */
import Docker from 'dockerode';
import { dockerFromHost } from '../activities/docker';
import type { IncidentState } from '../definitions/types';
import { need } from './env';
import { waitUntil } from './sandbox';

export function stackApi() {
  const url = need('ACCUBOOKS_API_URL');
  const container = need('ACCUBOOKS_API_CONTAINER');
  const docker = dockerFromHost(need('DOCKER_HOST'), Docker);
  const health = async (): Promise<number | null> => {
    try {
      return (await fetch(`${url}/api/monitoring/health`, { signal: AbortSignal.timeout(2000) })).status;
    } catch {
      return null;
    }
  };
  const startedAt = async () => (await docker.getContainer(container).inspect()).State.StartedAt;
  return {
    container,
    health,
    /** Crashes the API (the fault endpoint) and waits until it is down; returns its start time before. */
    async crash(): Promise<string> {
      expect(await health()).toBe(200);
      const before = await startedAt();
      await fetch(`${url}/api/sandbox/faults`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ fault: 'crash' }),
      }).catch(() => undefined); // the process may die before it answers
      await waitUntil('the API to go down', async () => (await health()) === null);
      return before;
    },
    /** P0-1's outcome for a crash: resolved by one restart (a new container start), health 200. */
    async expectRestartedByP01(final: IncidentState, startedBefore: string): Promise<void> {
      expect(final.status).toBe('resolved');
      expect(final.checks.restarts).toBe(1);
      expect(final.steps.map((s) => s.name)).toEqual(['check-health', 'check-logs', 'restart', 'verify']);
      expect(await health()).toBe(200);
      const after = await docker.getContainer(container).inspect();
      expect(after.State.Running).toBe(true);
      expect(after.State.StartedAt).not.toBe(startedBefore);
    },
    /** The sandbox's fault injection (sandbox/faults.ts): POST a fault, or DELETE them all. */
    async faults(method: 'POST' | 'DELETE', body?: unknown): Promise<void> {
      const res = await fetch(`${url}/api/sandbox/faults`, {
        method,
        headers: body ? { 'content-type': 'application/json' } : {},
        body: body ? JSON.stringify(body) : undefined,
        signal: AbortSignal.timeout(5000),
      });
      if (!res.ok) throw new Error(`${method} faults: HTTP ${res.status} ${await res.text()}`);
    },
    /** For afterAll: the next suite finds the API up. */
    healthyAgain: () =>
      waitUntil('the stack API to be healthy again', async () => (await health()) === 200, 60_000),
  };
}
