/**
 * P0-3 on the time-skipping server with real activities: stripe-mock behind a recording proxy,
 * PostgreSQL (billing_config, as the runbook role), a sandbox API container with its own billing
 * key, a real SMTP server and real webhook receivers.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { Pool } from 'pg';
import type { WorkflowHandle } from '@temporalio/client';
import { billingError } from '../../workflows';
import { abandonSignal, followUpWorkflowId, resolveSignal, stateQuery } from '../../definitions/messages';
import { approvalSignal } from '../../definitions/approval';
import { submitApproval } from '../../client/approvals';
import { need, uniqueId } from '../../rig/env';
import { waitUntil } from '../../rig/sandbox';
import { codeCount } from '../../rig/approvals';
import { startBillingRig, type BillingRig } from '../../rig/billing-rig';
import type { BillingErrorInput } from '../../workflows/billing-error';
import { PostgresBillingStore, type BillingStore } from '../../activities/billing';
import { targetActionUpdate, targetDoneSignal, targetLeaseWorkflowId } from '../../definitions/target-guard';
import { targetLeaseDefaults } from '../../definitions/policies/target-guard';
import { currentDetails } from '../observability/watch';

let rig: BillingRig;

/** `store`: a fault-injecting wrapper around the real billing store (PostgreSQL). */
const startWorker = (store?: BillingStore, opts: { guardTrustsRequesters?: boolean } = {}) =>
  rig.startWorker({
    deps: {
      ...(store ? { billing: { key: rig.billingKey, store } } : {}),
      targetGuardTrustsRequesters: opts.guardTrustsRequesters,
    },
    worker: { shutdownGraceTime: '1s', maxCachedWorkflows: 0 },
  });

const switchState = async () =>
  (
    await rig.admin.query<{ enabled: boolean; updated_by: string }>(
      'SELECT enabled, updated_by FROM billing_config WHERE key = $1',
      [rig.billingKey],
    )
  ).rows[0];
const charge = async () =>
  (
    await fetch(`${rig.sandbox.url}/api/billing/charge`, {
      method: 'POST',
      signal: AbortSignal.timeout(5000),
    })
  ).status;
const appBilling = async () =>
  (await (
    await fetch(`${rig.sandbox.url}/api/billing/status`, { signal: AbortSignal.timeout(5000) })
  ).json()) as {
    enabled: boolean;
  };

beforeAll(async () => {
  rig = await startBillingRig({ name: 'p03' });
});

afterAll(async () => {
  await rig?.close();
});

const input = (charges: string[]): BillingErrorInput => ({
  incidentId: uniqueId('P0-3'),
  target: rig.sandbox.name,
  trigger: { source: 'manual', startedBy: 'oncall-test', description: 'customer charged twice' },
  charges,
  reportedBy: 'support@accubooks.test',
  policy: { verifyWindowMs: 30_000, verifyIntervalMs: 500 },
});

test('P0-3 freezes billing, refunds with stable keys, notifies CEO+CTO, documents once, resumes only on CEO approval', async () => {
  const { worker, running } = await startWorker();
  try {
    // The first refund reaches Stripe but its answer is lost: the retried activity must send the same key.
    rig.stripe.loseAnswer((r) => r.path.startsWith('/v1/refunds') && r.body.includes('ch_p03first'));
    const before = rig.stripe.refunds().length;
    const inc = input(['ch_p03first', 'pi_p03second']);
    const handle = await rig.env.client.workflow.start(billingError, {
      taskQueue: rig.taskQueue,
      workflowId: uniqueId('wf-p03'),
      args: [inc],
    });
    await waitUntil(
      'P0-3 to wait for approval',
      async () => !!(await handle.query(stateQuery)).waitingFor,
      90_000,
    );
    const s = await handle.query(stateQuery);

    // 1. Frozen in the store, and the restarted app refuses to bill and says so.
    expect(await switchState()).toMatchObject({ enabled: false });
    // Compared together, so that a failure shows why: the restart step's detail, what is failing.
    const restart = s.steps.find((st) => st.name === 'restart');
    expect({ app: (await appBilling()).enabled, restart, failing: s.failing }).toMatchObject({
      app: false,
      restart: { status: 'done' },
    });
    expect(await charge()).toBe(423);

    // 2. Refunds: same idempotency key on the retry, one per charge.
    const refunds = rig.stripe.refunds().slice(before);
    const first = refunds.filter((r) => r.body.includes('ch_p03first'));
    expect(first).toHaveLength(2);
    expect(first[0].answered).toBe(false);
    expect(new Set(first.map((r) => r.idempotencyKey))).toEqual(
      new Set([`${inc.incidentId}/refund/ch_p03first`]),
    );
    const second = refunds.filter((r) => r.body.includes('pi_p03second'));
    expect(second.map((r) => r.idempotencyKey)).toEqual([`${inc.incidentId}/refund/pi_p03second`]);
    expect(s.checks.refunds).toHaveLength(2);

    // 3. CEO and CTO by email (real SMTP) and the team webhook.
    const mail = await rig.world.mailbox.waitFor(
      (m) => m.subject.includes('Billing frozen') && m.to.includes('ceo@accubooks.test'),
    );
    expect(mail.to.sort()).toEqual(['ceo@accubooks.test', 'cto@accubooks.test']);
    expect(mail.text).toContain('ch_p03first');
    expect(rig.world.team.requests.some((r) => String(r.body.text).includes('Billing frozen'))).toBe(true);

    // 4. One evidence file per refund.
    const dir = path.join(rig.evidenceDir, 'phase4_billing/refunds', inc.incidentId);
    expect(readdirSync(dir).sort()).toEqual(['ch_p03first.json', 'pi_p03second.json']);
    const doc = JSON.parse(readFileSync(path.join(dir, 'ch_p03first.json'), 'utf8'));
    expect(doc).toMatchObject({
      kind: 'refund',
      incidentId: inc.incidentId,
      reported: 'ch_p03first',
      currency: expect.any(String),
      amount: expect.any(Number),
      reportedBy: 'support@accubooks.test',
      operator: expect.stringContaining('oncall-test'),
    });
    expect(doc.refundId).toMatch(/^re_/);
    // Owner-only (0600 in a 0700 directory), as recorded in the state and as found on disk.
    const docPath = path.join(dir, 'ch_p03first.json');
    expect((s.checks.refundDocumentModes as Record<string, unknown>)[docPath]).toEqual({
      mode: '0600',
      dirMode: '0700',
    });
    expect(statSync(docPath).mode & 0o777).toBe(0o600);
    expect(statSync(dir).mode & 0o777).toBe(0o700);

    // Resume: the CTO's code is not enough (CEO required), billing stays frozen.
    const ctoCode = rig.world.latestCode('cto');
    expect(ctoCode).toBeUndefined(); // codes go only to holders of the required role
    const ceoCode = await rig.world.waitForCode('ceo');
    await handle.signal(approvalSignal, {
      approver: 'cto',
      decision: 'approve',
      reason: 'looks fine',
      code: ceoCode,
    });
    await waitUntil(
      'the refusal to be recorded',
      async () => (await handle.query(stateQuery)).approvals![0].attempts.length === 1,
    );
    expect(await switchState()).toMatchObject({ enabled: false });
    // The CTO carried the CEO's live code: it is spent, and the CEO gets a new one at once.
    const refusal = (await handle.query(stateQuery)).approvals![0].attempts[0];
    expect(refusal).toMatchObject({ accepted: false, spentCodeOf: 'ceo' });
    const freshCode = await rig.world.waitForCode('ceo', 1);
    expect(freshCode).not.toBe(ceoCode);

    // The CEO approves through the CLI path (the same signal, verdict read back).
    const r = await submitApproval(handle, {
      approver: 'ceo',
      decision: 'approve',
      reason: 'refunds done',
      code: freshCode,
    });
    expect(r).toMatchObject({ accepted: true, attempt: { via: 'signal (CLI)', approver: 'ceo' } });
    const final = await handle.result();
    expect(final.status).toBe('resolved');
    expect(final.approvals![0]).toMatchObject({
      status: 'approved',
      approvedBy: [{ approver: 'ceo', roles: ['CEO'] }],
    });
    expect(await switchState()).toMatchObject({ enabled: true });
    expect((await appBilling()).enabled).toBe(true);
    expect(await charge()).toBe(200);
  } finally {
    worker.shutdown();
    await running;
  }
});

test('the refund key is the same across a worker restart mid-runbook; nothing is refunded or documented twice', async () => {
  let a = await startWorker();
  const held = rig.stripe.hold((r) => r.path.startsWith('/v1/refunds') && r.body.includes('ch_p03restartB'));
  const before = rig.stripe.refunds().length;
  const inc = input(['ch_p03restartA', 'ch_p03restartB']);
  const handle = await rig.env.client.workflow.start(billingError, {
    taskQueue: rig.taskQueue,
    workflowId: uniqueId('wf-p03-restart'),
    args: [inc],
  });
  await held.arrived;
  // Worker A goes away in the middle of the second refund; its answer is lost with it.
  a.worker.shutdown();
  held.drop();
  await a.running;
  const b = await startWorker();
  try {
    await waitUntil(
      'P0-3 (worker B) to wait for approval',
      async () => !!(await handle.query(stateQuery)).waitingFor,
      90_000,
    );
    const refunds = rig.stripe.refunds().slice(before);
    const keysA = refunds.filter((r) => r.body.includes('ch_p03restartA')).map((r) => r.idempotencyKey);
    const keysB = refunds.filter((r) => r.body.includes('ch_p03restartB')).map((r) => r.idempotencyKey);
    expect(keysA).toEqual([`${inc.incidentId}/refund/ch_p03restartA`]);
    expect(keysB).toEqual([
      `${inc.incidentId}/refund/ch_p03restartB`,
      `${inc.incidentId}/refund/ch_p03restartB`,
    ]);
    const dir = path.join(rig.evidenceDir, 'phase4_billing/refunds', inc.incidentId);
    expect(readdirSync(dir).sort()).toEqual(['ch_p03restartA.json', 'ch_p03restartB.json']);
    // Only an approval resumes billing; the test ends here.
    await handle.terminate('test done');
  } finally {
    b.worker.shutdown();
    await b.running;
    a = b;
  }
});

test('a refund that fails while Stripe is down is retried with the same key and documented when Stripe returns', async () => {
  const { worker, running } = await startWorker();
  try {
    rig.stripe.down = true;
    const before = rig.stripe.refunds().length;
    const inc = input(['ch_p03late']);
    const handle = await rig.env.client.workflow.start(billingError, {
      taskQueue: rig.taskQueue,
      workflowId: uniqueId('wf-p03-late'),
      args: [inc],
    });
    // The quick attempts (about 30 s of backoff) fail: recorded, escalated, and retried in the background.
    await rig.env.sleep('2 minutes');
    await waitUntil(
      'the refund failure to be recorded',
      async () => !!(await handle.query(stateQuery)).failing.refunds,
      90_000,
    );
    let s = await handle.query(stateQuery);
    expect(s.escalations.some((e) => /Refunds failed: ch_p03late/.test(e.reason))).toBe(true);
    // Stripe down: the amount (read first, for the refund caps) is what is being retried.
    expect(s.steps.find((st) => st.name === 'amount-ch_p03late-retry')).toMatchObject({ status: 'running' });

    // Stripe is back: the next retry goes through, once, with the key every attempt carried.
    rig.stripe.down = false;
    await rig.env.sleep('15 minutes');
    await waitUntil(
      'the late refund',
      async () =>
        (await handle.query(stateQuery)).decisions.some((d) =>
          d.includes('Refund of ch_p03late issued late'),
        ),
      90_000,
    );
    s = await handle.query(stateQuery);
    expect(s.failing.refunds).toBeUndefined();
    expect(s.checks.refunds).toHaveLength(1);
    const sent = rig.stripe.refunds().slice(before);
    expect(sent.filter((r) => r.answered)).toHaveLength(1);
    expect(new Set(sent.map((r) => r.idempotencyKey))).toEqual(
      new Set([`${inc.incidentId}/refund/ch_p03late`]),
    );
    const dir = path.join(rig.evidenceDir, 'phase4_billing/refunds', inc.incidentId);
    await waitUntil('the evidence file', () => Promise.resolve(readdirSync(dir).includes('ch_p03late.json')));

    const code = await rig.world.waitForCode('ceo');
    await handle.signal(approvalSignal, { approver: 'ceo', decision: 'approve', reason: 'refunded', code });
    const final = await handle.result();
    expect(final.status).toBe('resolved');
  } finally {
    rig.stripe.down = false;
    worker.shutdown();
    await running;
  }
}, 240_000);

/** Approves the incident's resume-billing gate with the CEO's newest code (sent after `codesBefore`). */
async function approveAsCeo(handle: WorkflowHandle, codesBefore: number): Promise<void> {
  const code = await rig.world.waitForCode('ceo', codesBefore);
  await handle.signal(approvalSignal, {
    approver: 'ceo',
    decision: 'approve',
    reason: 'refunds checked',
    code,
  });
}

test('after approval, a failing resume step neither fails the workflow nor resolves it: retried, escalated, shown; resolved once the app reports billing; the follow-up starts', async () => {
  const pool = new Pool({ connectionString: need('RUNBOOK_DATABASE_URL') });
  const real = new PostgresBillingStore(pool);
  let resumeBroken = true;
  const flaky: BillingStore = {
    read: (k) => real.read(k),
    set: (k, enabled, by) =>
      enabled && resumeBroken
        ? Promise.reject(new Error('billing store unreachable while resuming (test)'))
        : real.set(k, enabled, by),
  };
  const { worker, running } = await startWorker(flaky);
  try {
    const codes = codeCount(rig.world, 'ceo');
    const handle = await rig.env.client.workflow.start(billingError, {
      taskQueue: rig.taskQueue,
      workflowId: uniqueId('wf-p03-resume-fails'),
      args: [input([])],
    });
    await waitUntil(
      'P0-3 to wait for approval',
      async () => !!(await handle.query(stateQuery)).waitingFor,
      90_000,
    );
    await approveAsCeo(handle, codes);
    await waitUntil(
      'the failed resume to be escalated',
      async () =>
        (await handle.query(stateQuery)).escalations.some((e) => /billing is NOT live/.test(e.reason)),
      90_000,
    );
    const s = await handle.query(stateQuery);
    expect((await handle.describe()).status.name).toBe('RUNNING');
    expect(s.status).toBe('escalated');
    expect(s.failing['resume-billing']).toMatch(/billing store unreachable while resuming/);
    expect(s.failing.resume).toMatch(/could not be resumed in the store/);
    expect(await switchState()).toMatchObject({ enabled: false });

    // The store is back: the next retry resumes billing, restarts the app and verifies it.
    resumeBroken = false;
    const final = await handle.result();
    expect(final.status).toBe('resolved');
    expect(final.outcome).toMatch(/the app reports billing enabled/);
    expect(final.failing.resume).toBeUndefined();
    expect(final.followUp?.startedAt).toBeDefined();
    expect(await switchState()).toMatchObject({ enabled: true });
    expect((await appBilling()).enabled).toBe(true);
  } finally {
    worker.shutdown();
    await running;
    await pool.end();
  }
}, 240_000);

test('a resume whose app restart the crash-loop budget refuses stays open and escalating, retries the restart through the guard, and resolves only when the app reports billing enabled', async () => {
  const { worker, running } = await startWorker(undefined, { guardTrustsRequesters: true });
  try {
    // The earlier tests' restarts of this sandbox count in its guard's crash-loop budget; this test
    // spends the budget itself, so it starts with the window clear (run after them on a slow machine,
    // the budget was already spent: the freeze was refused its restart and the app kept billing).
    await rig.env.sleep(targetLeaseDefaults.restartWindowMs + 60_000);
    const codes = codeCount(rig.world, 'ceo');
    const handle = await rig.env.client.workflow.start(billingError, {
      taskQueue: rig.taskQueue,
      workflowId: uniqueId('wf-p03-crash-loop'),
      args: [input([])],
    });
    await waitUntil(
      'P0-3 to wait for approval',
      async () => !!(await handle.query(stateQuery)).waitingFor,
      90_000,
    );
    const frozen = await handle.query(stateQuery);
    expect(frozen.steps.filter((st) => st.name === 'restart' && st.status === 'done')).toHaveLength(1);
    expect((await appBilling()).enabled).toBe(false);
    // Restarts of the app by other runbooks use up the guard's crash-loop budget. Made up here, so
    // this test's worker lets the guard take them at their word (the knob of the guard's own table
    // tests); a real guard checks each request with the incident that asks (gate-attacks.test.ts).
    const guard = rig.env.client.workflow.getHandle(targetLeaseWorkflowId(rig.sandbox.name));
    for (let i = 0; i < 6; i++) {
      // Apart in time, so that no restart counts as covered by the one before.
      await rig.env.sleep('2 minutes');
      const r = await guard.executeUpdate(targetActionUpdate, {
        args: [
          {
            requestId: uniqueId('req'),
            target: rig.sandbox.name,
            kind: 'restart',
            requester: { workflowId: `other-runbook-${i}`, incidentId: `other-${i}`, runbook: 'P1-1' },
            reason: 'test: use the restart budget',
            decidedAt: new Date(await rig.env.currentTimeMs()).toISOString(),
          },
        ],
      });
      if (!r.granted) {
        expect(r.reason).toMatch(/crash loop/);
        break;
      }
      await guard.signal(targetDoneSignal, { requestId: r.requestId, ok: true });
    }
    await approveAsCeo(handle, codes);
    await waitUntil(
      'the refused restart to be escalated',
      async () =>
        (await handle.query(stateQuery)).escalations.some((e) => /billing is NOT live/.test(e.reason)),
      90_000,
    );
    const s = await handle.query(stateQuery);
    expect(s.status).toBe('escalated');
    expect(s.failing.resume).toMatch(/does not report it yet .*crash loop/);
    expect(await switchState()).toMatchObject({ enabled: true });
    expect((await appBilling()).enabled).toBe(false); // not restarted: the app still runs frozen

    // Once the budget's window has passed, a retry restarts the app through the guard.
    const final = await handle.result();
    expect(final.status).toBe('resolved');
    expect(final.outcome).toMatch(/the app reports billing enabled/);
    expect(final.steps.filter((st) => st.name === 'restart' && st.status === 'done').length).toBe(2);
    expect((await appBilling()).enabled).toBe(true);
    expect(await charge()).toBe(200);
  } finally {
    worker.shutdown();
    await running;
  }
}, 240_000);

test('an approval while a refund is still being retried says so: in the state, the current details and a message to the approver', async () => {
  const { worker, running } = await startWorker();
  try {
    rig.stripe.down = true;
    const codes = codeCount(rig.world, 'ceo');
    const handle = await rig.env.client.workflow.start(billingError, {
      taskQueue: rig.taskQueue,
      workflowId: uniqueId('wf-p03-pending-refund'),
      args: [input(['ch_p03pending'])],
    });
    await rig.env.sleep('2 minutes');
    await waitUntil(
      'P0-3 to wait for approval with the refund failing',
      async () => {
        const st = await handle.query(stateQuery);
        return !!st.waitingFor && !!st.failing.refunds;
      },
      90_000,
    );
    await approveAsCeo(handle, codes);
    await waitUntil(
      'the wait for the refund to show',
      async () => {
        const st = await handle.query(stateQuery);
        // The step that tells the approvers runs first; the wait shows as the current step after it.
        return !!st.checks.resumeWaitsForRefunds && /waiting for the refund/.test(st.currentStep);
      },
      90_000,
    );
    const s = await handle.query(stateQuery);
    expect(s.checks.resumeWaitsForRefunds).toMatchObject({ charges: ['ch_p03pending'] });
    expect(s.currentStep).toMatch(/waiting for the refund\(s\) of ch_p03pending/);
    expect(await currentDetails(handle)).toMatch(/waiting for the refund\(s\) of ch_p03pending/);
    const mail = await rig.world.mailbox.waitFor(
      (m) =>
        m.subject.includes('billing resumes after the pending refunds') &&
        m.subject.includes(s.incidentId) &&
        m.to.includes('ceo@accubooks.test'),
    );
    expect(mail.text).toMatch(/ch_p03pending/);
    expect(await switchState()).toMatchObject({ enabled: false });

    rig.stripe.down = false;
    const final = await handle.result();
    expect(final.status).toBe('resolved');
    expect(final.checks.resumeWaitsForRefunds).toMatchObject({ until: expect.any(String) });
    expect(final.checks.refunds).toHaveLength(1);
  } finally {
    rig.stripe.down = false;
    worker.shutdown();
    await running;
  }
}, 240_000);

// Last in this file: it runs on a worker of its own that stops with work still scheduled, after
// which the time-skipping server no longer skips time for the other tests' waits.
test('while billing cannot be frozen a resolve is refused (the CEO is still needed); an abandon the CTO confirms ends it at once, with a small history', async () => {
  // The billing store is down: every freeze attempt fails and the runbook keeps trying, backing off.
  const down = (): Promise<never> => Promise.reject(new Error('billing store unreachable (test)'));
  const queue = `${rig.taskQueue}-store-down`;
  const { worker: w, running } = await rig.startWorker({
    taskQueue: queue,
    deps: { billing: { key: rig.billingKey, store: { read: down, set: down } } },
    worker: { shutdownGraceTime: '1s' },
  });
  // The freeze asks the API's target guard first, which runs on the file's main queue.
  const guardWorker = await startWorker();
  try {
    const handle = await rig.env.client.workflow.start(billingError, {
      taskQueue: queue,
      workflowId: uniqueId('wf-p03-freeze-down'),
      // Short re-check intervals: the loop runs in real time here (other tests' follow-ups hold the clock).
      args: [
        {
          ...input([]),
          policy: { ...input([]).policy, recheckIntervalMs: 500, maxRecheckIntervalMs: 1_000 },
        },
      ],
    });
    const failedAttempts = async () =>
      (await handle.query(stateQuery)).steps.filter(
        (st) => st.name === 'freeze-billing' && st.status === 'failed',
      ).length;
    await waitUntil('two freeze attempts to fail', async () => (await failedAttempts()) >= 2, 90_000);
    const before = await handle.query(stateQuery);
    expect(before.status).not.toBe('resolved');
    expect(before.escalations.some((e) => /Billing could NOT be frozen/.test(e.reason))).toBe(true);
    // "Notify CEO + CTO immediately": told at once, alongside the freeze, and told it failed.
    const toBoth = (m: { to: string[] }) =>
      [...m.to].sort().join() === 'ceo@accubooks.test,cto@accubooks.test';
    const first = await rig.world.mailbox.waitFor(
      (m) => m.subject.includes(before.incidentId) && m.subject.includes('freezing billing now') && toBoth(m),
    );
    expect(first.text).toMatch(/being FROZEN now/);
    const notFrozen = await rig.world.mailbox.waitFor(
      (m) => m.subject.includes(before.incidentId) && m.subject.includes('could NOT be frozen') && toBoth(m),
    );
    expect(notFrozen.text).toMatch(/billing store unreachable/);

    // A resolve is a claim the runbook checks: billing is not approved to resume, so it is refused.
    await handle.signal(resolveSignal, { by: 'oncall-test', reason: 'froze it by hand' });
    await waitUntil(
      'the resolve to be refused',
      async () =>
        (await handle.query(stateQuery)).closeRequests?.some((c) => c.outcome === 'refused') ?? false,
    );
    const refused = await handle.query(stateQuery);
    expect(refused.closeRequests![0]).toMatchObject({
      action: 'resolve',
      by: 'oncall-test',
      outcome: 'refused',
    });
    expect(refused.closeRequests![0].detail).toMatch(/billing stays frozen until CEO approve/);
    expect(refused.status).not.toBe('resolved');

    // Abandoning needs the CTO's one-time code: asked for, then confirmed with it.
    const ctoCodes = codeCount(rig.world, 'cto');
    await handle.signal(abandonSignal, { by: 'oncall-test', reason: 'froze it by hand' });
    const code = await rig.world.waitForCode('cto', ctoCodes);
    await handle.signal(abandonSignal, { by: 'cto', reason: 'confirmed: frozen by hand', code });
    const final = await handle.result();
    expect(final.status).toBe('abandoned');
    expect(final.outcome).toMatch(/abandoned by oncall-test, approved by cto \(CTO\): froze it by hand/);
    const events = (await handle.fetchHistory()).events ?? [];
    const attempts = events.filter(
      (e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'setBillingEnabled',
    ).length;
    // The attempts made before the resolve, at most one more, and nothing after it (it used to spin).
    expect(attempts).toBeGreaterThanOrEqual(2);
    expect(attempts).toBeLessThanOrEqual(
      before.steps.filter((st) => st.name === 'freeze-billing').length + 1,
    );
    expect(events.length).toBeLessThan(150);
    // Its follow-up lives on this test's queue, whose worker stops now: end it, so that it does not
    // hold the time-skipping clock for the tests after this one.
    await rig.env.client.workflow
      .getHandle(followUpWorkflowId(final.incidentId))
      .terminate('test done')
      .catch(() => undefined);
  } finally {
    w.shutdown();
    guardWorker.worker.shutdown();
    await Promise.all([running, guardWorker.running]);
  }
}, 150_000);
