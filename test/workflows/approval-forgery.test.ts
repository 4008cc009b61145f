/**
 * Approvals that cannot be forged, on a real P0-4 incident (time-skipping server, real sandbox,
 * real SMTP and webhooks). Everything an attacker who reads history and sends signals could try:
 * a live code carried by a refused attempt (wrong name, no reason, wrong decision word) is spent
 * and its owner gets a new one at once; a code seen in history is dead; wrong codes past the cap
 * turn short codes into long ones without locking the CEO out; a flood is counted, not stored.
 * Each refusal is recorded (never the code) and the API stays stopped until a real approval.
 */
import type { WorkflowHandle } from '@temporalio/client';
import { dataIntegrityViolation } from '../../workflows';
import { stateQuery } from '../../definitions/messages';
import { approvalSignal, MAX_STORED_ATTEMPTS, type ApprovalAttempt } from '../../definitions/approval';
import { submitApproval } from '../../client/approvals';
import { startIncidentRig, type IncidentRig } from '../../rig/incident-rig';
import { uniqueId } from '../../rig/env';
import { waitUntil } from '../../rig/sandbox';
import { codeCount } from '../../rig/approvals';

let rig: IncidentRig;
let handle: WorkflowHandle<typeof dataIntegrityViolation>;

beforeAll(async () => {
  rig = await startIncidentRig({ name: 'forgery', approvals: true, chatHook: 'incidents' });
  await rig.startWorker();
  handle = await rig.env.client.workflow.start(dataIntegrityViolation, {
    taskQueue: rig.taskQueue,
    workflowId: uniqueId('wf-forgery'),
    args: [
      {
        incidentId: uniqueId('P0-4'),
        target: rig.sandbox.name,
        trigger: { source: 'manual', startedBy: 'test', description: 'calculation error in invoices' },
        // Codes live 5 minutes; reminders (which bring fresh codes) every 2 hours; 4 wrong codes
        // (tighter than the default 20) turn short codes into long ones.
        policy: {
          codeTtlMs: 5 * 60_000,
          maxWrongCodes: 4,
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
  await rig?.close();
});

const gate = async () => (await handle.query(stateQuery)).approvals![0];
const containerRunning = async () =>
  (await rig.sandbox.docker.getContainer(rig.sandbox.name).inspect()).State.Running;

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
  test.each([
    [
      'carried by someone else',
      { approver: 'cto', decision: 'approve', reason: 'I am the CTO' },
      /^this code was sent to someone else, not to "cto"$/,
    ],
    ['without a reason', { approver: 'ceo', decision: 'approve' }, /^missing or invalid field\(s\): reason/],
    [
      'with a wrong decision word',
      { approver: 'ceo', decision: 'yes', reason: 'go' },
      /^missing or invalid field\(s\): decision/,
    ],
  ] as const)(
    'a live CEO code %s is refused AND spent; the CEO gets a new code at once; the old one never works again',
    async (_, fields, why) => {
      const sent = codeCount(rig.world, 'ceo');
      const code = rig.world.latestCode('ceo')!;
      const spentBefore = (await gate()).codes.filter((c) => c.status === 'spent').length;
      const r = await send(via, { ...fields, code } as Partial<ApprovalAttempt>);
      expect(r.refusedBecause).toMatch(why);
      expect(r.spentCodeOf).toBe('ceo');
      expect((await gate()).codes.filter((c) => c.status === 'spent')).toHaveLength(spentBefore + 1);
      const fresh = await rig.world.waitForCode('ceo', sent);
      expect(fresh).not.toBe(code);
      // Whoever read the refused signal in history resends it as its owner: refused.
      const replay = await send(via, {
        approver: 'ceo',
        decision: 'approve',
        reason: 'read it in history',
        code,
      });
      expect(replay.refusedBecause).toMatch(/^code already used \(at /);
    },
  );

  test('an approval from a non-CEO with a code of their own kind is refused, recorded and notified', async () => {
    const mailsBefore = rig.world.mailbox.mails.length;
    const r = await send(via, {
      approver: 'legal',
      decision: 'approve',
      reason: 'I am Legal',
      code: 'AAAAA-BBBBB',
    });
    expect(r.refusedBecause).toBe('code does not match');
    const notice = await rig.world.mailbox.waitFor(
      // Notices are batched: the one that tells of this attempt (an earlier one may still be arriving).
      (m) =>
        rig.world.mailbox.mails.indexOf(m) >= mailsBefore &&
        m.subject.includes('Approval attempt') &&
        m.text.includes('code does not match'),
    );
    expect(notice.to).toEqual(['ceo@accubooks.test']);
    expect(notice.text).toContain('code does not match');
  });
});

test('past the wrong-code cap every short code becomes a long one; a flood in the CEO name is counted, not stored, and locks nobody out', async () => {
  // Two wrong codes were sent above (one per path): two more reach the cap of 4.
  const sent = codeCount(rig.world, 'ceo');
  const short = rig.world.latestCode('ceo')!;
  expect(short.replace(/-/g, '')).toHaveLength(10);
  for (let i = 0; i < 2; i++) {
    await handle.signal(approvalSignal, {
      approver: 'ceo',
      decision: 'approve',
      reason: 'guess',
      code: `ZZZZZ-ZZZZ${i + 2}`,
    });
  }
  const long = await rig.world.waitForCode('ceo', sent);
  expect(long.replace(/-/g, '')).toHaveLength(30);
  expect((await gate()).codes.filter((c) => c.strength === 'short' && c.status === 'live')).toEqual([]);
  const revoked = await send('signal', {
    approver: 'ceo',
    decision: 'approve',
    reason: 'the old short one',
    code: short,
  });
  expect(revoked.refusedBecause).toMatch(/^code was revoked at /);

  // A flood of wrong codes in the CEO's name: stored up to the cap, then only counted.
  const flood = MAX_STORED_ATTEMPTS + 15;
  for (let i = 0; i < flood; i++) {
    await handle.signal(approvalSignal, {
      approver: 'ceo',
      decision: 'approve',
      reason: 'flood',
      code: `FL00D-${String(i).padStart(5, 'A')}`,
    });
  }
  // Guesses in the CEO's name: the two above and the flood.
  const guesses = (g: Awaited<ReturnType<typeof gate>>) =>
    g.attempts.filter((a) => a.approver === 'ceo' && a.refusedBecause === 'code does not match').length;
  await waitUntil('the flood to be judged', async () => {
    const g = await gate();
    return guesses(g) + (g.attemptsNotStored?.ceo ?? 0) === flood + 2;
  });
  const g = await gate();
  expect(guesses(g)).toBe(MAX_STORED_ATTEMPTS);
  expect(g.attemptsNotStored?.ceo).toBeGreaterThan(0);
  // The CEO's long code was never revoked by the guesses.
  expect(g.codes.at(-1)).toMatchObject({ approver: 'ceo', strength: 'long', status: 'live' });
  expect(codeCount(rig.world, 'ceo')).toBe(sent + 1);
  expect(await containerRunning()).toBe(false);
});

test('a rejection keeps the API stopped; an expired code is refused; the CEO approves with the long code', async () => {
  const sent = codeCount(rig.world, 'ceo');
  await handle.signal(approvalSignal, {
    approver: 'ceo',
    decision: 'reject',
    reason: 'not before legal review',
    code: rig.world.latestCode('ceo')!,
  });
  await waitUntil('the rejection', async () => (await gate()).rejections.length === 1);
  expect(await containerRunning()).toBe(false);

  // The rejection brought a fresh (long) code; let it expire.
  const fresh = await rig.world.waitForCode('ceo', sent);
  expect(fresh.replace(/-/g, '')).toHaveLength(30);
  await rig.env.sleep('6 minutes');
  const expired = await send('cli', { approver: 'ceo', decision: 'approve', reason: 'late', code: fresh });
  expect(expired.refusedBecause).toMatch(/^code expired at /);

  // The next reminder sends a new code; the CEO approves with it through the UI path.
  const before = codeCount(rig.world, 'ceo');
  while (codeCount(rig.world, 'ceo') === before) await rig.env.sleep('2 minutes');
  const latest = rig.world.latestCode('ceo')!;
  await handle.signal(approvalSignal, {
    approver: 'CEO ',
    decision: 'approve',
    reason: 'legal reviewed',
    code: latest.toLowerCase(),
  });
  const final = await handle.result();
  expect(final.status).toBe('resolved');
  expect(await containerRunning()).toBe(true);
  const done = final.approvals![0];
  expect(done.status).toBe('approved');
  expect(done.attempts.every((a) => a.accepted || a.refusedBecause)).toBe(true);
  // Codes never in the workflow's state, nor any history event but the submissions themselves.
  const state = JSON.stringify(final);
  const codes = rig.world.personal.requests.map((r) => String(r.body.code));
  for (const c of codes) expect(state).not.toContain(c);
  const events = (await handle.fetchHistory()).events ?? [];
  for (const e of events) {
    if (e.workflowExecutionSignaledEventAttributes) continue;
    const text = JSON.stringify(e);
    for (const c of codes) expect(text).not.toContain(c);
    expect(text).not.toMatch(/"(salt|hash)"/);
  }
});
