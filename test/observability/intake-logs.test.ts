/**
 * The intake process's logs (dist/client/intake/main.js; `npm run build` first): one JSON line per
 * entry, one line per alert with the incident's workflow ID, and never the bearer token, the HMAC
 * secret or a signature, not even a wrong token a caller sent. No worker runs on the task queue:
 * the incidents are started and then terminated.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import { loadTemporalConfig } from '../../config/temporal';
import { connectClient } from '../../client/connection';
import { incidentWorkflowId } from '../../client/incidents';
import { signBody } from '../../client/intake/auth';
import { uniqueId } from '../../rig/env';
import { freePort, waitUntil } from '../../rig/sandbox';
import { amAlert, amPayload } from '../intake/rig';

const token = `obs-token-${uniqueId('t')}`;
const hmacSecret = `obs-hmac-${uniqueId('s')}`;
const wrongToken = `obs-wrong-${uniqueId('w')}`;
const taskQueue = uniqueId('obs-intake');
let intake: ChildProcess;
let out = '';
let client: Client;
let url: string;
const started: string[] = [];

beforeAll(async () => {
  const port = await freePort();
  url = `http://127.0.0.1:${port}`;
  intake = spawn(process.execPath, [path.join(__dirname, '../../dist/client/intake/main.js')], {
    env: {
      ...process.env,
      TEMPORAL_TASK_QUEUE: taskQueue,
      INTAKE_PORT: String(port),
      INTAKE_BEARER_TOKEN: token,
      INTAKE_HMAC_SECRET: hmacSecret,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  intake.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  intake.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  client = await connectClient(loadTemporalConfig());
  await waitUntil(
    'the intake to listen',
    async () => (await fetch(`${url}/healthz`).catch(() => undefined))?.status === 200,
    30_000,
  ).catch((e: Error) => {
    throw new Error(`${e.message}\nintake output:\n${out}`);
  });
});

afterAll(async () => {
  await Promise.all(
    started.map((id) =>
      client.workflow
        .getHandle(id)
        .terminate('test done')
        .catch(() => undefined),
    ),
  );
  if (intake && intake.exitCode === null) {
    const exited = new Promise((r) => intake.once('exit', r));
    intake.kill('SIGTERM');
    await exited;
  }
  await client?.connection.close();
});

test('intake log lines are JSON, name the incident on every alert line, and hold no secret', async () => {
  const a = uniqueId('abk-obs-a');
  const b = uniqueId('abk-obs-b');
  // Alertmanager with the bearer token: a firing and its resolution for one target.
  const am = await fetch(`${url}/alerts/alertmanager`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(
      amPayload([amAlert('SystemUnreachable', a), amAlert('SystemUnreachable', a, 'resolved')]),
    ),
  });
  expect(am.status).toBe(200);
  // The simple form with an HMAC signature.
  const body = JSON.stringify({ runbook: 'P0-1', target: b, description: 'support saw timeouts' });
  const simple = await fetch(`${url}/alerts`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-signature-256': signBody(hmacSecret, body) },
    body,
  });
  expect(simple.status).toBe(200);
  started.push(incidentWorkflowId('P0-1', a), incidentWorkflowId('P0-1', b));
  // A caller with a wrong token is refused; what it sent is not logged either.
  const refused = await fetch(`${url}/alerts`, {
    method: 'POST',
    headers: { authorization: `Bearer ${wrongToken}`, 'content-type': 'application/json' },
    body,
  });
  expect(refused.status).toBe(401);

  await waitUntil('three alert lines', () =>
    Promise.resolve((out.match(/"msg":"alert /g) ?? []).length >= 3),
  );
  await waitUntil('the refused request to be logged', () =>
    Promise.resolve(out.includes('"statusCode":401')),
  );
  const lines = out
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      try {
        return JSON.parse(l) as Record<string, unknown>;
      } catch {
        throw new Error(`not a JSON log line: ${l}`);
      }
    });
  const config = lines.find((l) => l.msg === 'intake starting') as
    { config: { intake: Record<string, unknown> } } | undefined;
  expect(config?.config.intake).toMatchObject({ bearerToken: 'set', hmacSecret: 'set' });

  const alertLines = lines.filter((l) => typeof l.msg === 'string' && l.msg.startsWith('alert '));
  expect(alertLines.map((l) => [l.workflowId, l.alertStatus, l.outcome])).toEqual(
    expect.arrayContaining([
      [incidentWorkflowId('P0-1', a), 'firing', 'started'],
      [incidentWorkflowId('P0-1', a), 'resolved', 'joined'],
      [incidentWorkflowId('P0-1', b), 'firing', 'started'],
    ]),
  );
  for (const l of alertLines) {
    expect(l).toMatchObject({ workflowId: expect.stringMatching(/^incident-P0-1-/), runbook: 'P0-1' });
    expect(l.reqId).toBeDefined(); // ties the line to its request's own lines
  }

  for (const secret of [token, hmacSecret, wrongToken, signBody(hmacSecret, body)]) {
    expect(out).not.toContain(secret);
  }
});
