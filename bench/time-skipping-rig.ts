/**
 * The time-skipping rig of benchmarks 4 and 6: the time-skipping test server, and an in-process
 * worker with the runbooks, the bench workflows and the real activities over the stack (pages and
 * approval codes to the bench's receivers).
 */
import { randomUUID } from 'node:crypto';
import { Worker } from '@temporalio/worker';
import type { WorkflowHandle } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { createActivities } from '../activities';
import { createIncidentMetrics, incidentMetricsSinks } from '../worker/metrics';
import { abandonSignal, stateQuery } from '../definitions/messages';
import type { IncidentState } from '../definitions/types';
import { startReceiver, type Receiver } from '../rig/receivers';
import { timeSkippingEnv } from '../rig/temporal';
import { benchBundle } from './bundle';
import { benchClients } from './clients';
import { createBenchActivities } from './floor-activities';
import { within } from './measure';

export const HOUR = 60 * 60_000;

export type TimeSkippingRig = Awaited<ReturnType<typeof timeSkippingRig>>;

export async function incidentIdOf(handle: WorkflowHandle): Promise<string> {
  return (await handle.query<IncidentState>(stateQuery)).incidentId;
}

export async function timeSkippingRig() {
  const code = await benchBundle();
  const env: TestWorkflowEnvironment = await timeSkippingEnv();
  const [pagerDuty, slack] = await Promise.all([startReceiver(), startReceiver()]);
  const clients = benchClients(pagerDuty.url, slack.url);
  clients.deps.temporal = env.client;
  const taskQueue = `bench-ts-${randomUUID().slice(0, 8)}`;
  const worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue,
    workflowBundle: { code },
    activities: { ...createActivities(clients.deps), ...createBenchActivities() },
    sinks: incidentMetricsSinks(createIncidentMetrics()),
    // Incidents left on made-up targets may be mid-activity: cancel those soon after shutdown.
    shutdownGraceTime: '2s',
  });
  const running = worker.run();
  const receivers: Receiver[] = [pagerDuty, slack];
  return {
    env,
    taskQueue,
    /**
     * Closes an incident by hand as people must: on made-up targets a resolve is refused by the
     * runbook's check, so an abandon the bench's CTO confirms with the code their webhook received.
     */
    async abandon(h: WorkflowHandle, reason: string): Promise<void> {
      const code = () =>
        slack.requests.find((r) => r.path === '/approver/CTO' && r.body.workflowId === h.workflowId)?.body
          .code as string | undefined;
      await h.signal(abandonSignal, { by: 'bench', reason });
      const deadline = performance.now() + 60_000;
      while (!code() && performance.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      if (code()) await h.signal(abandonSignal, { by: 'cto', reason, code: code()! });
    },
    async close() {
      worker.shutdown();
      await within(running, 30_000, undefined);
      await Promise.allSettled([env.teardown(), clients.close(), ...receivers.map((r) => r.close())]);
    },
  };
}
