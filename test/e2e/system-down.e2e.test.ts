/**
 * P0-1 end to end on the dev server: the real worker process (dist/worker/main.js, configured only by
 * environment), the stack's sandbox API container, a real crash, the incident started through the
 * client helper, and the state read by query while it runs.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import Docker from 'dockerode';
import type { Client } from '@temporalio/client';
import { loadTemporalConfig } from '../../config';
import { connectClient } from '../../client/connection';
import { incidentState, startIncident } from '../../client/incidents';
import { dockerFromHost } from '../../activities/docker';
import type { IncidentState } from '../../workflows/types';
import { need, uniqueId } from '../helpers/env';
import { startReceiver, type Receiver } from '../helpers/receivers';
import { waitUntil } from '../helpers/sandbox';

const taskQueue = uniqueId('e2e-p01');
const container = need('ACCUBOOKS_API_CONTAINER');
const apiUrl = need('ACCUBOOKS_API_URL');
let worker: ChildProcess;
let workerLog = '';
let client: Client;
let pd: Receiver;
const docker = dockerFromHost(need('DOCKER_HOST'), Docker);

const health = async () => {
  try {
    return (await fetch(`${apiUrl}/api/monitoring/health`, { signal: AbortSignal.timeout(2000) })).status;
  } catch {
    return null;
  }
};

beforeAll(async () => {
  pd = await startReceiver();
  worker = spawn(process.execPath, [path.join(__dirname, '../../dist/worker/main.js')], {
    env: {
      ...process.env,
      TEMPORAL_TASK_QUEUE: taskQueue,
      NOTIFY_PAGERDUTY_EVENTS_URL: `${pd.url}/v2/enqueue`,
      PAGERDUTY_ROUTING_KEY: 'e2e-routing-key',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  worker.stdout!.on('data', (d: Buffer) => (workerLog += d.toString()));
  worker.stderr!.on('data', (d: Buffer) => (workerLog += d.toString()));
  client = await connectClient(loadTemporalConfig());
  await waitUntil(
    'worker to start polling',
    () => Promise.resolve(workerLog.includes('RUNNING')),
    60_000,
  ).catch((e: Error) => {
    throw new Error(`${e.message}\nworker output:\n${workerLog}`);
  });
});

afterAll(async () => {
  if (worker && worker.exitCode === null) {
    const exited = new Promise((r) => worker.once('exit', r));
    worker.kill('SIGTERM');
    await exited;
  }
  await client?.connection.close();
  await pd?.close();
  await waitUntil('the stack API to be healthy again', async () => (await health()) === 200, 60_000);
});

test('a crashed API is restarted by P0-1 and health returns 200', async () => {
  expect(await health()).toBe(200);
  const before = (await docker.getContainer(container).inspect()).State.StartedAt;
  await fetch(`${apiUrl}/api/sandbox/faults`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ fault: 'crash' }),
  }).catch(() => undefined); // the process may die before it answers
  await waitUntil('the API to go down', async () => (await health()) === null);

  const handle = await startIncident({
    client,
    taskQueue,
    runbook: 'P0-1',
    target: container,
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
  expect(seen!.target).toBe(container);

  const final = (await handle.result()) as IncidentState;
  expect(final.status).toBe('resolved');
  expect(final.checks.restarts).toBe(1);
  expect(final.steps.map((s) => s.name)).toEqual(['check-health', 'check-logs', 'restart', 'verify']);
  expect(await health()).toBe(200);
  const after = await docker.getContainer(container).inspect();
  expect(after.State.Running).toBe(true);
  expect(after.State.StartedAt).not.toBe(before);

  // The query still answers after completion, from the closed workflow.
  const closed = await incidentState(handle);
  expect(closed.outcome).toBe('health 200 after restart 1');
  expect(workerLog).not.toContain(need('STRIPE_API_KEY'));
});
