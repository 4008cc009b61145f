/**
 * The real worker process (dist/worker/main.js, configured only by environment; `npm run build`
 * first) as operations sees it: the SDK's own Prometheus endpoint (WORKER_SDK_METRICS_PORT), the
 * project's incident metrics on the health server (WORKER_HEALTH_PORT), and JSON log lines that
 * carry the incident's workflow ID and no secret. A P0-1 on this file's own sandbox container
 * (crashed, restarted by the runbook) gives them something to count and log.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import { loadTemporalConfig } from '../../config/temporal';
import { connectClient } from '../../client/connection';
import { startIncident } from '../../client/incidents';
import type { IncidentState } from '../../definitions/types';
import { need, uniqueId } from '../../rig/env';
import { startReceiver, type Receiver } from '../../rig/receivers';
import { freePort, startSandbox, waitUntil, type Sandbox } from '../../rig/sandbox';
import { startWorkerProcess, type WorkerProcess } from '../../rig/worker-process';
import { terminateRunning } from './watch';

const taskQueue = uniqueId('obs-worker');
const routingKey = `obs-routing-${uniqueId('secret')}`;
let sandbox: Sandbox;
let pager: Receiver;
let worker: WorkerProcess;
let client: Client;
let sdkPort: number;

const get = async (url: string) => {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
    return { status: res.status, text: await res.text() };
  } catch {
    return { status: 0, text: '' };
  }
};

beforeAll(async () => {
  [sandbox, pager, sdkPort] = await Promise.all([
    startSandbox('abk-obs-worker'),
    startReceiver(),
    freePort(),
  ]);
  client = await connectClient(loadTemporalConfig());
  worker = await startWorkerProcess({
    env: {
      TEMPORAL_TASK_QUEUE: taskQueue,
      ACCUBOOKS_API_CONTAINER: sandbox.name,
      ACCUBOOKS_API_URL: sandbox.url,
      NOTIFY_PAGERDUTY_EVENTS_URL: `${pager.url}/v2/enqueue`,
      PAGERDUTY_ROUTING_KEY: routingKey,
      WORKER_SDK_METRICS_PORT: String(sdkPort),
    },
  });
});

afterAll(async () => {
  if (client && sandbox) await terminateRunning(client, sandbox.name);
  await worker?.stop();
  await client?.connection.close();
  await Promise.all([sandbox?.remove(), pager?.close()]);
});

test('the worker serves SDK and incident metrics and logs JSON lines with the incident ID and no secret', async () => {
  await sandbox.inject({ fault: 'crash' }).catch(() => undefined); // it may die before it answers
  await waitUntil('the API to go down', async () => (await sandbox.health()) === null);
  const workflowId = uniqueId('obs-worker-P0-1');
  const handle = await startIncident({
    client,
    taskQueue,
    runbook: 'P0-1',
    target: sandbox.name,
    trigger: { source: 'manual', startedBy: 'observability test', description: 'injected crash' },
    workflowId,
    policy: { verifyWindowMs: 20_000, verifyIntervalMs: 500, stopTimeoutSec: 2 },
  });
  const final = (await handle.result()) as IncidentState;
  expect(final.status).toBe('resolved');
  expect(final.checks.restarts).toBe(1);

  // The SDK's own metrics: workflow and activity task processing on this worker's task queue.
  const sdk = await get(`http://127.0.0.1:${sdkPort}/metrics`);
  expect(sdk.status).toBe(200);
  const onQueue = sdk.text.split('\n').filter((l) => l.includes(`task_queue="${taskQueue}"`));
  expect(onQueue.some((l) => l.startsWith('temporal_workflow_'))).toBe(true);
  expect(onQueue.some((l) => l.startsWith('temporal_activity_'))).toBe(true);
  expect(sdk.text).toMatch(/^temporal_worker_start/m);

  // The project's incident metrics, counted by the workflow's sink in this process.
  await waitUntil('the closed incident to be counted', async () =>
    (await get(`http://127.0.0.1:${worker.healthPort}/metrics`)).text.includes('status="resolved"'),
  );
  const own = (await get(`http://127.0.0.1:${worker.healthPort}/metrics`)).text;
  expect(own).toMatch(/^accubooks_incidents_opened_total\{runbook="P0-1",severity="P0"\} 1$/m);
  expect(own).toMatch(
    /^accubooks_incidents_closed_total\{runbook="P0-1",severity="P0",status="resolved",breached="false"\} 1$/m,
  );
  expect(own).toMatch(/^accubooks_incident_time_to_resolve_seconds_count\{.*runbook="P0-1".*\} 1$/m);

  // Logs: every stdout line is JSON; activity lines carry the incident's workflow ID.
  const lines = worker
    .stdout()
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      try {
        return JSON.parse(l) as Record<string, unknown>;
      } catch {
        throw new Error(`not a JSON log line: ${l}`);
      }
    });
  expect(lines.find((l) => l.message === 'worker starting')).toBeDefined();
  // Started as production starts it: both threads' young generation from WORKER_V8_SEMI_SPACE_MB.
  expect(readFileSync(`/proc/${worker.pid}/cmdline`, 'utf8').split('\0')).toContain(
    '--max-semi-space-size=2',
  );
  expect(lines.filter((l) => String(l.message).includes('reaches the workflow thread only'))).toEqual([]);
  const activityLines = lines.filter((l) => l.sdkComponent === 'activity');
  expect(activityLines.length).toBeGreaterThan(0);
  const ours = activityLines.filter((l) => l.workflowId === workflowId);
  expect(ours.map((l) => l.message)).toContain('restarting container');
  for (const l of activityLines) expect(l.workflowId).toEqual(expect.any(String));

  // No secret anywhere in what the worker wrote.
  const dbPassword = decodeURIComponent(new URL(need('RUNBOOK_DATABASE_URL')).password);
  expect(dbPassword.length).toBeGreaterThan(3);
  const everything = worker.stdout() + worker.stderr();
  for (const secret of [need('STRIPE_API_KEY'), dbPassword, routingKey]) {
    expect(everything).not.toContain(secret);
  }
});

test('the worker refuses to start when ACCUBOOKS_DB_ROLES names a role the database does not have', async () => {
  const child = spawn(process.execPath, [path.join(__dirname, '../../dist/worker/main.js')], {
    env: {
      ...process.env,
      TEMPORAL_TASK_QUEUE: uniqueId('obs-roles'),
      ACCUBOOKS_DB_ROLES: 'accubooks,abk_typo_role',
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  clearTimeout(timer);
  expect(code).toBe(1);
  expect(stderr).toContain(
    'ACCUBOOKS_DB_ROLES names roles that do not exist in the application database: abk_typo_role',
  );
}, 90_000);
