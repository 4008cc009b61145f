/**
 * Alert-storm folding (client/intake/fold.ts) over the real dev server and the stack's Redis: the
 * Alertmanager endpoint records each alert in Redis and answers; per incident, the first alert starts
 * the runbook at once and the repeats arrive as counted signals, at most one per window. Every alert
 * ends up in its incident's state, no incident starts twice, and alerts that could not be delivered
 * (Temporal unreachable) wait in Redis until an intake delivers them.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { Redis } from 'ioredis';
import type { Client } from '@temporalio/client';
import { connectClient } from '../../client/connection';
import { incidentState, incidentWorkflowId } from '../../client/incidents';
import { AlertFolder, claimPending, recordAlerts, type DeliveryOutcome } from '../../client/intake/fold';
import { loadTemporalConfig } from '../../config/temporal';
import type { IncidentState } from '../../definitions/types';
import { need, uniqueId } from '../../rig/env';
import { freePort, waitUntil } from '../../rig/sandbox';
import { amAlert, amPayload, bearer, startIntakeRig, type IntakeRig } from './rig';

let rig: IntakeRig;
let redis: Redis;
const prefix = `test:fold:${randomUUID().slice(0, 8)}`;
const folders: AlertFolder[] = [];

/** Each test folds under its own prefix: a folder still running from another test must not deliver its alerts. */
function folder(client: Client, deliveries?: DeliveryOutcome[], group = 'main'): AlertFolder {
  const f = new AlertFolder({
    client,
    taskQueue: rig.taskQueue,
    redis,
    windowMs: 300,
    prefix: `${prefix}:${group}`,
    onDelivery: (o) => deliveries?.push(o),
  });
  folders.push(f);
  return f;
}

async function post(payload: unknown) {
  const res = await rig.request('/alerts/alertmanager', { headers: bearer, body: JSON.stringify(payload) });
  return { status: res.status, body: res.json<{ queued?: number; results: { outcome: string }[] }>() };
}

async function stateOf(workflowId: string, until: (s: IncidentState) => boolean) {
  let s: IncidentState | undefined;
  await waitUntil(`state of ${workflowId}`, async () => {
    s = await incidentState(rig.client.workflow.getHandle(workflowId)).catch(() => undefined);
    return s !== undefined && until(s);
  });
  return s!;
}

async function signalsOf(workflowId: string): Promise<number> {
  const h = await rig.client.workflow.getHandle(workflowId).fetchHistory();
  return h.events!.filter((e) => e.workflowExecutionSignaledEventAttributes?.signalName === 'alert').length;
}

beforeAll(async () => {
  rig = await startIntakeRig('intake-fold', { worker: true });
  redis = new Redis(need('REDIS_URL'), { maxRetriesPerRequest: 1 });
});
afterAll(async () => {
  for (const f of folders) await f.close().catch(() => undefined);
  rig.gateway.fold = undefined;
  if (redis) {
    const keys = await redis.keys(`${prefix}:*`);
    if (keys.length) await redis.del(...keys);
    redis.disconnect();
  }
  await rig?.close();
});

test('a storm of repeats and resolutions: one run per incident, every alert counted, far fewer signals', async () => {
  const deliveries: DeliveryOutcome[] = [];
  const f = folder(rig.client, deliveries);
  f.start();
  rig.gateway.fold = f;
  const targets = [1, 2, 3].map(() => uniqueId('abk-fold'));
  const perTarget = 20;
  // Each notification: two instances; the last of each target resolves one of them.
  const requests = targets.flatMap((t) =>
    Array.from({ length: perTarget / 2 }, (_, i) =>
      amPayload([
        amAlert('SystemUnreachable', t, i === perTarget / 2 - 1 ? 'resolved' : 'firing'),
        amAlert('SystemUnreachable', t),
      ]),
    ),
  );
  const responses = await Promise.all(requests.map(post));
  expect(responses.map((r) => r.status)).toEqual(requests.map(() => 200));
  expect(
    responses.every((r) => r.body.queued === 2 && r.body.results.every((x) => x.outcome === 'queued')),
  ).toBe(true);

  for (const t of targets) {
    const id = incidentWorkflowId('P0-1', t);
    const s = await stateOf(id, (x) => x.alerts.firing + x.alerts.resolved >= perTarget);
    expect({ firing: s.alerts.firing, resolved: s.alerts.resolved }).toEqual({
      firing: perTarget - 1,
      resolved: 1,
    });
    // 19 repeats after the start went as a handful of counted signals, not one each.
    expect(await signalsOf(id)).toBeLessThan(perTarget / 2);
  }
  const query = targets.map((t) => `WorkflowId = '${incidentWorkflowId('P0-1', t)}'`).join(' OR ');
  await waitUntil('visibility to list the incidents', async () => {
    return (await rig.client.workflow.count(`TaskQueue = '${rig.taskQueue}' AND (${query})`)).count === 3;
  });
  await new Promise((r) => setTimeout(r, 1000));
  expect((await rig.client.workflow.count(`TaskQueue = '${rig.taskQueue}' AND (${query})`)).count).toBe(3);
  expect(deliveries.filter((d) => d === 'started')).toHaveLength(3);
  expect(await f.pendingIncidents()).toBe(0);
});

test('a resolution with no running incident starts nothing', async () => {
  const deliveries: DeliveryOutcome[] = [];
  const f = folder(rig.client, deliveries, 'stray');
  rig.gateway.fold = f;
  const target = uniqueId('abk-fold-stray');
  const r = await post(amPayload([amAlert('SystemUnreachable', target, 'resolved')]));
  expect(r.status).toBe(200);
  await waitUntil('the resolution to be handled', () => Promise.resolve(deliveries.includes('ignored')));
  await expect(
    rig.client.workflow.getHandle(incidentWorkflowId('P0-1', target)).describe(),
  ).rejects.toThrow();
});

test('alerts Temporal did not take stay in Redis until an intake delivers them', async () => {
  // An intake whose Temporal connection is gone: deliveries fail and the counts are put back.
  const broken = await connectClient(loadTemporalConfig());
  await broken.connection.close();
  const failed: DeliveryOutcome[] = [];
  const a = folder(broken, failed, 'kept');
  rig.gateway.fold = a;
  const target = uniqueId('abk-fold-kept');
  for (let i = 0; i < 5; i++)
    expect((await post(amPayload([amAlert('SystemUnreachable', target)]))).status).toBe(200);
  await waitUntil('a failed delivery', () => Promise.resolve(failed.includes('retry')));
  await a.close();
  expect(await a.pendingIncidents()).toBe(1);
  await expect(
    rig.client.workflow.getHandle(incidentWorkflowId('P0-1', target)).describe(),
  ).rejects.toThrow();

  // Another intake (or this one restarted) finds them pending and delivers: one run, five firings.
  const b = folder(rig.client, undefined, 'kept');
  b.start();
  const s = await stateOf(incidentWorkflowId('P0-1', target), (x) => x.alerts.firing >= 5);
  expect(s.alerts.firing).toBe(5);
  expect(await b.pendingIncidents()).toBe(0);
});

test('a deliverer killed between taking alerts and Temporal answering loses nothing: they come back after the lease', async () => {
  const group = 'lease';
  const p = `${prefix}:${group}`;
  const target = uniqueId('abk-fold-lease');
  const id = incidentWorkflowId('P0-1', target);
  // Three firings recorded (no deliverer running); one takes them and dies before it sends.
  rig.gateway.fold = { add: (alerts) => recordAlerts(redis, p, alerts).then(() => undefined) };
  for (let i = 0; i < 3; i++)
    expect((await post(amPayload([amAlert('SystemUnreachable', target)]))).status).toBe(200);
  const taken = await claimPending(redis, p, id);
  expect(taken).toContain('firing');
  expect(await redis.sismember(`${p}:pending`, id)).toBe(0);
  // A fourth arrives meanwhile; no deliverer may take the incident while the dead one holds it.
  expect((await post(amPayload([amAlert('SystemUnreachable', target)]))).status).toBe(200);
  expect(await claimPending(redis, p, id)).toBeNull();

  // An intake sweeping with a short lease puts the taken three back with the fourth and delivers all.
  const lease = new AlertFolder({
    client: rig.client,
    taskQueue: rig.taskQueue,
    redis,
    windowMs: 300,
    prefix: p,
    leaseMs: 500,
  });
  folders.push(lease);
  lease.start();
  const s = await stateOf(id, (x) => x.alerts.firing >= 4);
  expect(s.alerts.firing).toBe(4);
  await waitUntil('the taken copy to be gone', async () => (await redis.zcard(`${p}:taken`)) === 0);
  expect(await redis.exists(`${p}:taken:${id}`)).toBe(0);
});

test('with Redis unreachable the intake sends alerts to Temporal directly: nothing is lost', async () => {
  const down = new Redis('redis://127.0.0.1:1', {
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    lazyConnect: true,
  });
  down.on('error', () => undefined);
  rig.gateway.fold = new AlertFolder({
    client: rig.client,
    taskQueue: rig.taskQueue,
    redis: down,
    windowMs: 300,
    prefix,
  });
  const target = uniqueId('abk-fold-direct');
  const r = await post(amPayload([amAlert('SystemUnreachable', target)]));
  expect(r.status).toBe(200);
  expect(r.body.results.map((x) => x.outcome)).toEqual(['started']);
  await stateOf(incidentWorkflowId('P0-1', target), (x) => x.alerts.firing === 1);
  down.disconnect();
});

test('the intake process answers from Redis and delivers on its own thread; SIGTERM delivers what is pending', async () => {
  // The production path (dist/client/intake/main.js): a long window keeps the repeats pending.
  const threadPrefix = `${prefix}:process`;
  const token = `fold-token-${randomUUID()}`;
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  let out = '';
  const intake = spawn(process.execPath, [path.join(__dirname, '../../dist/client/intake/main.js')], {
    env: {
      ...process.env,
      TEMPORAL_TASK_QUEUE: rig.taskQueue,
      INTAKE_PORT: String(port),
      INTAKE_BEARER_TOKEN: token,
      INTAKE_FOLD_REDIS_URL: need('REDIS_URL'),
      INTAKE_FOLD_PREFIX: threadPrefix,
      INTAKE_FOLD_WINDOW_MS: '30000',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<number | null>((r) => intake.once('exit', r));
  intake.stdout.on('data', (d: Buffer) => (out += d.toString()));
  intake.stderr.on('data', (d: Buffer) => (out += d.toString()));
  try {
    await waitUntil(
      'the intake to listen',
      async () => (await fetch(`${url}/healthz`).catch(() => undefined))?.ok === true,
    );
    const target = uniqueId('abk-fold-thread');
    const id = incidentWorkflowId('P0-1', target);
    const send = (alerts: Parameters<typeof amPayload>[0]) =>
      fetch(`${url}/alerts/alertmanager`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify(amPayload(alerts)),
      });
    // The first notification starts the incident at once (from the delivery thread).
    const first = await send([amAlert('SystemUnreachable', target), amAlert('SystemUnreachable', target)]);
    expect(first.status).toBe(200);
    expect(((await first.json()) as { queued: number }).queued).toBe(2);
    await stateOf(id, (s) => s.alerts.firing === 2);
    // Repeats within the window wait in Redis...
    for (let i = 0; i < 3; i++) expect((await send([amAlert('SystemUnreachable', target)])).status).toBe(200);
    expect(await redis.sismember(`${threadPrefix}:pending`, id)).toBe(1);
    // ...and a stopping intake delivers them before it exits.
    intake.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(await redis.scard(`${threadPrefix}:pending`)).toBe(0);
    const s = await stateOf(id, (x) => x.alerts.firing === 5);
    expect(s.alerts.firing).toBe(5);
    expect(await signalsOf(id)).toBe(2); // the second of the first two, then the three repeats as one

    const lines = out
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    // One line per incident and request for folded alerts, with the counts; the thread's deliveries too.
    expect(lines.filter((l) => l.msg === 'alert queued' && l.workflowId === id).map((l) => l.firing)).toEqual(
      [2, 1, 1, 1],
    );
    expect(
      lines
        .filter((l) => l.workflowId === id && typeof l.msg === 'string' && l.msg.startsWith('folded alerts'))
        .map((l) => [l.outcome, l.firing]),
    ).toEqual([
      ['started', 2],
      ['joined', 3],
    ]);
    const completed = lines.filter(
      (l) => l.msg === 'request completed' && (l.req as { url?: string })?.url === '/alerts/alertmanager',
    );
    expect(completed.map((l) => (l.res as { statusCode: number }).statusCode)).toEqual([200, 200, 200, 200]);
    expect(out).not.toContain(token);
  } finally {
    if (intake.exitCode === null) intake.kill('SIGKILL');
  }
});
