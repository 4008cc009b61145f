/**
 * P0-4 on the time-skipping server with real activities: a real sandbox container (stopped and
 * started through the Docker engine), real PostgreSQL (pg_dump, then pg_restore --list on the
 * file), a real SMTP server and webhook receivers.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { dataIntegrityViolation } from '../../workflows';
import { stateQuery } from '../../definitions/messages';
import { submitApproval } from '../../client/approvals';
import { startIncidentRig, type IncidentRig } from '../../rig/incident-rig';
import { need, uniqueId } from '../../rig/env';
import { waitUntil } from '../../rig/sandbox';
import { codeCount } from '../../rig/approvals';
import { approvalSignal } from '../../definitions/approval';

let rig: IncidentRig;

beforeAll(async () => {
  rig = await startIncidentRig({ name: 'p04', approvals: true, chatHook: 'incidents' });
  await rig.startWorker();
});

afterAll(async () => {
  await rig?.close();
});

const containerRunning = async () =>
  (await rig.sandbox.docker.getContainer(rig.sandbox.name).inspect()).State.Running;

test('P0-4 stops the API, preserves a restorable dump with its checksum, notifies CEO+CTO+Legal, keeps the password out of history, restarts only after approval', async () => {
  const handle = await rig.env.client.workflow.start(dataIntegrityViolation, {
    taskQueue: rig.taskQueue,
    workflowId: uniqueId('wf-p04'),
    args: [
      {
        incidentId: uniqueId('P0-4'),
        target: rig.sandbox.name,
        trigger: {
          source: 'alert',
          alertName: 'CrossTenantLeakage',
          labels: { violation: 'cross-tenant leakage' },
        },
        policy: { verifyWindowMs: 30_000, verifyIntervalMs: 500, reminderEveryMs: 30 * 60_000 },
      },
    ],
  });
  await waitUntil(
    'P0-4 to wait for approval',
    async () => !!(await handle.query(stateQuery)).waitingFor,
    90_000,
  );
  const s = await handle.query(stateQuery);

  // 1. Stopped.
  expect(await containerRunning()).toBe(false);
  expect(s.steps.find((st) => st.name === 'stop')?.status).toBe('done');

  // 2. Evidence: timestamped, restorable, checksum matches.
  const ev = s.checks.evidence as { path: string; bytes: number; sha256: string; format: string };
  expect(path.basename(ev.path)).toMatch(/^backup_\d{8}T\d{6}Z\.dump$/);
  expect(ev.path.startsWith(path.join(rig.evidenceDir, 'phase4_integrity'))).toBe(true);
  expect(statSync(ev.path).size).toBe(ev.bytes);
  expect(createHash('sha256').update(readFileSync(ev.path)).digest('hex')).toBe(ev.sha256);
  expect(readFileSync(`${ev.path}.sha256`, 'utf8')).toBe(`${ev.sha256}  ${path.basename(ev.path)}\n`);
  // Tenant data: owner-only, as recorded in the state and as found on disk.
  expect(s.checks.evidence).toMatchObject({ mode: '0600', dirMode: '0700' });
  expect(statSync(ev.path).mode & 0o777).toBe(0o600);
  expect(statSync(path.dirname(ev.path)).mode & 0o777).toBe(0o700);
  const list = spawnSync(path.join(need('PG_BIN_DIR'), 'pg_restore'), ['--list', ev.path], {
    encoding: 'utf8',
  });
  expect(list.status).toBe(0);
  expect(list.stdout).toMatch(/TABLE DATA public invoices/);
  expect(list.stdout).toMatch(/TABLE DATA public billing_config/);

  // 3. CEO + CTO + Legal by email, and the team webhook.
  const mail = await rig.world.mailbox.waitFor((m) => m.subject.includes('Data integrity violation'));
  expect(mail.to.sort()).toEqual(['ceo@accubooks.test', 'cto@accubooks.test', 'legal@accubooks.test']);
  expect(rig.world.team.requests.some((r) => String(r.body.text).includes('DATA INTEGRITY VIOLATION'))).toBe(
    true,
  );

  // The UI shows exactly what to paste.
  expect(s.waitingFor).toMatchObject({
    signal: 'approval',
    example: {
      approver: expect.any(String),
      decision: 'approve',
      reason: expect.any(String),
      code: expect.any(String),
    },
  });

  // 4. Still stopped after an hour of waiting; reminders went out meanwhile.
  await rig.env.sleep('61 minutes');
  expect(await containerRunning()).toBe(false);
  const waiting = await handle.query(stateQuery);
  expect(waiting.approvals![0].reminders.length).toBeGreaterThanOrEqual(2);
  expect(waiting.status).not.toBe('resolved');

  // No password anywhere in history (the dump got it through its environment).
  const password = decodeURIComponent(new URL(need('RUNBOOK_DATABASE_URL')).password);
  const history = JSON.stringify(await handle.fetchHistory());
  expect(history).not.toContain(password);

  const code = rig.world.latestCode('ceo')!;
  const r = await submitApproval(handle, {
    approver: 'ceo',
    decision: 'approve',
    reason: 'evidence preserved; fix deployed',
    code,
  });
  expect(r.accepted).toBe(true);
  const final = await handle.result();
  expect(final.status).toBe('resolved');
  expect(await containerRunning()).toBe(true);
  expect(final.steps.map((st) => st.name)).toEqual(
    expect.arrayContaining(['stop', 'pg-dump', 'notify', 'start', 'verify']),
  );
  expect(JSON.stringify(await handle.fetchHistory())).not.toContain(password);
});

test('after approval, an API that cannot be started keeps the incident open and escalating; the start is retried and it resolves only with health 200', async () => {
  const codes = codeCount(rig.world, 'ceo');
  const handle = await rig.env.client.workflow.start(dataIntegrityViolation, {
    taskQueue: rig.taskQueue,
    workflowId: uniqueId('wf-p04-start-fails'),
    args: [
      {
        incidentId: uniqueId('P0-4'),
        target: rig.sandbox.name,
        trigger: { source: 'manual', startedBy: 'test', description: 'calculation error in invoices' },
        policy: { verifyWindowMs: 30_000, verifyIntervalMs: 500 },
      },
    ],
  });
  await waitUntil(
    'P0-4 to wait for approval',
    async () => !!(await handle.query(stateQuery)).waitingFor,
    90_000,
  );
  expect(await containerRunning()).toBe(false);
  // A real fault on the Docker engine: the stopped container is not found under its name.
  const moved = `${rig.sandbox.name}-moved`;
  await rig.sandbox.docker.getContainer(rig.sandbox.name).rename({ name: moved });
  try {
    const code = await rig.world.waitForCode('ceo', codes);
    await handle.signal(approvalSignal, { approver: 'ceo', decision: 'approve', reason: 'fixed', code });
    await waitUntil(
      'the failed start to be escalated',
      async () =>
        (await handle.query(stateQuery)).escalations.some((e) =>
          /could not be started.*retrying/.test(e.reason),
        ),
      90_000,
    );
    const s = await handle.query(stateQuery);
    expect((await handle.describe()).status.name).toBe('RUNNING');
    expect(s.status).toBe('escalated');
    expect(s.failing.resume).toMatch(/could not be started/);
  } finally {
    await rig.sandbox.docker.getContainer(moved).rename({ name: rig.sandbox.name });
  }
  // The engine finds it again: the next retry starts it, and only health 200 resolves the incident.
  const final = await handle.result();
  expect(final.status).toBe('resolved');
  expect(final.outcome).toMatch(/health 200/);
  expect(final.failing.resume).toBeUndefined();
  expect(await containerRunning()).toBe(true);
  expect(await rig.sandbox.health()).toBe(200);
}, 240_000);
