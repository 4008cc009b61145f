/**
 * P0-1 end to end on the dev server: the real worker process (dist/worker/main.js, configured only by
 * environment), the stack's sandbox API container, a real crash, the incident started through the
 * client helper, and the state read by query while it runs.
 */
import type { Client } from '@temporalio/client';
import { loadTemporalConfig } from '../../config/temporal';
import { connectClient } from '../../client/connection';
import { incidentState, startIncident } from '../../client/incidents';
import type { IncidentState } from '../../definitions/types';
import { need, uniqueId } from '../../rig/env';
import { startReceiver, type Receiver } from '../../rig/receivers';
import { waitUntil } from '../../rig/sandbox';
import { stackApi } from '../../rig/stack-api';
import { startWorkerProcess, type WorkerProcess } from '../../rig/worker-process';

const taskQueue = uniqueId('e2e-p01');
const api = stackApi();
let worker: WorkerProcess;
let client: Client;
let pd: Receiver;

beforeAll(async () => {
  pd = await startReceiver();
  client = await connectClient(loadTemporalConfig());
  worker = await startWorkerProcess({
    env: {
      TEMPORAL_TASK_QUEUE: taskQueue,
      NOTIFY_PAGERDUTY_EVENTS_URL: `${pd.url}/v2/enqueue`,
      PAGERDUTY_ROUTING_KEY: 'e2e-routing-key',
    },
  });
});

afterAll(async () => {
  await worker?.stop();
  await client?.connection.close();
  await pd?.close();
  await api.healthyAgain();
});

test('a crashed API is restarted by P0-1 and health returns 200', async () => {
  const before = await api.crash();
  const handle = await startIncident({
    client,
    taskQueue,
    runbook: 'P0-1',
    target: api.container,
    trigger: { source: 'manual', startedBy: 'e2e test', description: 'injected crash' },
    workflowId: uniqueId('e2e-incident-P0-1'),
  });

  // The state is readable while the runbook works.
  let seen: IncidentState | undefined;
  await waitUntil('a queryable state with steps', async () => {
    seen = await incidentState(handle);
    return seen.steps.length > 0;
  });
  expect(seen!.runbook).toBe('P0-1');
  expect(seen!.target).toBe(api.container);

  await api.expectRestartedByP01((await handle.result()) as IncidentState, before);

  // The query still answers after completion, from the closed workflow.
  const closed = await incidentState(handle);
  expect(closed.outcome).toBe('health 200 after restart 1');
  expect(worker.stdout() + worker.stderr()).not.toContain(need('STRIPE_API_KEY'));
});
