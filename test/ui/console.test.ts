/**
 * The Temporal Web UI as the on-call console, in headless Chromium (Debian's, via playwright-core):
 * an incident shows its summary, the runbook's actions and live current details, and a person can
 * close it with "Send a Signal". Screenshots are saved under test-artifacts/ui/.
 */
import { NativeConnection, Worker } from '@temporalio/worker';
import { Client, Connection } from '@temporalio/client';
import type { Browser, Page } from 'playwright-core';
import { createActivities } from '../../activities';
import { startIncident } from '../../client/incidents';
import { stateQuery } from '../../workflows/definitions';
import type { IncidentState } from '../../workflows/types';
import type { WorkerClients } from '../../worker/clients';
import { testClients } from '../helpers/deps';
import { need, uniqueId } from '../helpers/env';
import { startSandbox, waitUntil, type Sandbox } from '../helpers/sandbox';
import { workflowsPath } from '../helpers/temporal';
import { launchChromium, screenshot } from '../helpers/browser';
import { openWorkflow, readUserMetadata, sendSignalThroughUi } from '../helpers/temporal-ui';

const taskQueue = uniqueId('ui');
let sandbox: Sandbox;
let clients: WorkerClients;
let worker: Worker;
let running: Promise<void>;
let client: Client;
let browser: Browser;
let page: Page;

beforeAll(async () => {
  sandbox = await startSandbox('abk-ui');
  clients = testClients({ health: { apiUrls: { [sandbox.name]: sandbox.url } } });
  const connection = await NativeConnection.connect({ address: need('TEMPORAL_ADDRESS') });
  worker = await Worker.create({
    connection,
    taskQueue,
    workflowsPath,
    activities: createActivities(clients.deps),
  });
  running = worker.run();
  client = new Client({ connection: await Connection.connect({ address: need('TEMPORAL_ADDRESS') }) });
  browser = await launchChromium();
  page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
});

afterAll(async () => {
  await browser?.close();
  worker?.shutdown();
  await running;
  await client?.connection.close();
  await clients?.close();
  await sandbox?.remove();
});

test('a P0-1 incident reads like the runbook in the UI, and a person resolves it with Send a Signal', async () => {
  await sandbox.inject({ fault: 'fail-health', persist: true });
  const workflowId = uniqueId('ui-incident-P0-1');
  const handle = await startIncident({
    client,
    taskQueue,
    runbook: 'P0-1',
    target: sandbox.name,
    trigger: { source: 'manual', startedBy: 'ui test' },
    workflowId,
    policy: { verifyWindowMs: 3000, maxRestarts: 1 },
  });
  await waitUntil(
    'the failed verification',
    async () =>
      (await handle.query(stateQuery)).steps.some((s) => s.name === 'verify' && s.status !== 'running'),
    60_000,
  );

  await openWorkflow(page, need('TEMPORAL_UI_URL'), workflowId);
  const metadata = await readUserMetadata(page);
  await screenshot(page, 'p0-1-user-metadata');
  expect(metadata).toContain(`P0-1 System down: ${sandbox.name}`);
  expect(metadata).toContain('Restart the API container');
  expect(metadata).toContain('Escalate if not resolved in 15 minutes');
  expect(metadata).toMatch(/Status\s+remediating/);
  expect(metadata).toContain('Next escalation');
  expect(metadata).toMatch(/unhealthy \(503/);

  await sendSignalThroughUi(page, 'resolve', {
    by: 'Jane On-call',
    reason: 'fixed the health check by hand',
  });
  const final = (await handle.result()) as IncidentState;
  await screenshot(page, 'p0-1-after-resolve');
  expect(final.status).toBe('resolved');
  expect(final.closedBy).toMatchObject({
    action: 'resolve',
    by: 'Jane On-call',
    reason: 'fixed the health check by hand',
  });
  await sandbox.clearFaults();
});
