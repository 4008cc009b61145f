/**
 * Approvals that cannot be forged, on a real P0-4 incident (time-skipping server, real sandbox,
 * real SMTP and webhooks). Each bad approval is sent both as a signal (as the Temporal UI does) and
 * through the CLI path (the same signal, then the verdict read back): each is refused with its
 * reason, recorded (never the code), notified to the approvers, and the API stays stopped.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Worker } from '@temporalio/worker';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { WorkflowHandle } from '@temporalio/client';
import { createActivities } from '../../activities';
import { dataIntegrityViolation } from '../../workflows';
import { stateQuery } from '../../workflows/definitions';
import { approvalSignal, type ApprovalAttempt } from '../../workflows/approval';
import { submitApproval } from '../../client/approvals';
import type { WorkerClients } from '../../worker/clients';
import { uniqueId } from '../helpers/env';
import { testClients } from '../helpers/deps';
import { startSandbox, waitUntil, type Sandbox } from '../helpers/sandbox';
import { timeSkippingEnv, createTestWorker } from '../helpers/temporal';
import { codeCount, startApprovalWorld, type ApprovalWorld } from '../helpers/approvals';

let env: TestWorkflowEnvironment;
let sandbox: Sandbox;
let world: ApprovalWorld;
let worker: Worker;
let running: Promise<void>;
let clients: WorkerClients;
let handle: WorkflowHandle<typeof dataIntegrityViolation>;
const taskQueue = uniqueId('forgery');

beforeAll(async () => {
  [env, sandbox, world] = await Promise.all([
    timeSkippingEnv(),
    startSandbox('abk-forgery'),
    startApprovalWorld(),
  ]);
  clients = testClients(
    {
      health: { apiUrls: { [sandbox.name]: sandbox.url } },
      notify: {
        slackWebhookUrl: `${world.team.url}/hooks/incidents`,
        mailer: world.mailbox.transport(),
        mailFrom: 'runbooks@accubooks.test',
      },
      approvers: world.directory,
    },
    { EVIDENCE_DIR: mkdtempSync(path.join(tmpdir(), 'abk-forgery-')) },
  );
  worker = await createTestWorker({
    connection: env.nativeConnection,
    taskQueue,

    activities: createActivities(clients.deps),
  });
  running = worker.run();
  handle = await env.client.workflow.start(dataIntegrityViolation, {
    taskQueue,
    workflowId: uniqueId('wf-forgery'),
    args: [
      {
        incidentId: uniqueId('P0-4'),
        target: sandbox.name,
        trigger: { source: 'manual', startedBy: 'test', description: 'calculation error in invoices' },
        // Codes live 5 minutes; reminders (which bring fresh codes) every 2 hours.
        policy: {
          codeTtlMs: 5 * 60_000,
          reminderEveryMs: 2 * 60 * 60_000,
          verifyWindowMs: 30_000,
          verifyIntervalMs: 500,
        },
      },
    ],
  });
  await waitUntil(
    'P0-4 to wait for approval',
    async () => !!(await handle.query(stateQuery)).waitingFor,
    90_000,
  );
});

afterAll(async () => {
  worker?.shutdown();
  await running;
  await Promise.all([env?.teardown(), sandbox?.remove(), world?.close(), clients?.close()]);
});

const gate = async () => (await handle.query(stateQuery)).approvals![0];
const containerRunning = async () =>
  (await sandbox.docker.getContainer(sandbox.name).inspect()).State.Running;

/** Sends the attempt one way, and returns the attempt the workflow recorded for it. */
async function send(via: 'signal' | 'cli', attempt: Partial<ApprovalAttempt>) {
  const before = (await gate()).attempts.length;
  if (via === 'signal') {
    await handle.signal(approvalSignal, attempt as ApprovalAttempt);
  } else {
    const r = await submitApproval(handle, attempt as ApprovalAttempt);
    expect(r.accepted).toBe(false); // the CLI reports the workflow's verdict...
    expect(r.message).toBe(r.attempt.refusedBecause);
  }
  await waitUntil('the attempt to be recorded', async () => (await gate()).attempts.length > before); // ...and recorded
  const recorded = (await gate()).attempts.at(-1)!;
  expect(recorded.accepted).toBe(false);
  expect(JSON.stringify(recorded)).not.toContain(String(attempt.code ?? '!no code!'));
  expect(await containerRunning()).toBe(false);
  return recorded;
}

describe.each(['signal', 'cli'] as const)('sent as %s', (via) => {
  test('an approval from a non-CEO is refused, recorded, notified and leaves the API stopped', async () => {
    const mailsBefore = world.mailbox.mails.length;
    const r = await send(via, {
      approver: 'cto',
      decision: 'approve',
      reason: 'I am the CTO',
      code: world.latestCode('ceo')!,
    });
    expect(r.refusedBecause).toBe('"cto" does not hold CEO');
    expect(r.via).toBe(via === 'signal' ? 'signal' : 'signal (CLI)');
    const notice = await world.mailbox.waitFor(
      (m) =>
        world.mailbox.mails.indexOf(m) >= mailsBefore &&
        m.subject.includes('Approval attempt') &&
        m.text.includes('does not hold CEO'),
    );
    expect(notice.to).toEqual(['ceo@accubooks.test']);
    expect(notice.text).toContain('does not hold CEO');
  });

  test('a wrong code is refused', async () => {
    const r = await send(via, { approver: 'ceo', decision: 'approve', reason: 'go', code: 'AAAAA-BBBBB' });
    expect(r.refusedBecause).toBe('code does not match');
  });

  test('a payload with a missing field is refused', async () => {
    const r = await send(via, { approver: 'ceo', decision: 'approve', code: world.latestCode('ceo')! });
    expect(r.refusedBecause).toMatch(/^missing or invalid field\(s\): reason/);
    const r2 = await send(via, { approver: 'ceo', decision: 'approve', reason: 'no code' });
    expect(r2.refusedBecause).toMatch(/^missing or invalid field\(s\): code/);
  });
});

test('a rejection keeps the API stopped; its code cannot be reused (signal and CLI); an expired code is refused (signal and CLI); a later approval still resumes', async () => {
  const sent = codeCount(world, 'ceo');
  const code = world.latestCode('ceo')!;
  const reject = await submitApproval(handle, {
    approver: 'ceo',
    decision: 'reject',
    reason: 'not before legal review',
    code,
  });
  expect(reject).toMatchObject({
    accepted: true,
    attempt: { decision: 'reject', accepted: true },
    gate: { status: 'pending' },
  });
  expect(await containerRunning()).toBe(false);
  expect((await gate()).rejections).toHaveLength(1);

  for (const via of ['signal', 'cli'] as const) {
    const r = await send(via, { approver: 'ceo', decision: 'approve', reason: 'changed my mind', code });
    expect(r.refusedBecause).toMatch(/^code already used/);
  }

  // The rejection brought a fresh code; let it expire.
  const fresh = await world.waitForCode('ceo', sent);
  await env.sleep('6 minutes');
  for (const via of ['signal', 'cli'] as const) {
    const r = await send(via, { approver: 'ceo', decision: 'approve', reason: 'late', code: fresh });
    expect(r.refusedBecause).toMatch(/^code expired at /);
  }

  // The next reminder sends a new code; the CEO approves with it through the UI path.
  const before = codeCount(world, 'ceo');
  while (codeCount(world, 'ceo') === before) await env.sleep('2 minutes');
  const latest = world.latestCode('ceo')!;
  await handle.signal(approvalSignal, {
    approver: 'CEO ',
    decision: 'approve',
    reason: 'legal reviewed',
    code: latest.toLowerCase(),
  });
  const final = await handle.result();
  expect(final.status).toBe('resolved');
  expect(await containerRunning()).toBe(true);
  const g = final.approvals![0];
  expect(g.status).toBe('approved');
  expect(g.attempts.filter((a) => !a.accepted).length).toBeGreaterThanOrEqual(12);
  expect(g.attempts.every((a) => a.accepted || a.refusedBecause)).toBe(true);
  // Codes never in the workflow's state.
  const state = JSON.stringify(final);
  for (const c of world.personal.requests.map((r) => String(r.body.code))) expect(state).not.toContain(c);
});
