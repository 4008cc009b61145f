/**
 * P0-3 refund caps (issue 17, "Money moves within bounds") on the time-skipping server with real
 * activities: stripe-mock behind the recording proxy (a charge there is 100 usd-cents, a payment
 * intent 1099), PostgreSQL's billing_config, a sandbox API, real SMTP and webhook receivers. The
 * caps are the worker's (REFUND_CAP_*): each test runs a worker with its own caps on its own queue.
 */
import type { WorkflowHandle } from '@temporalio/client';
import type { RefundCaps } from '../../definitions/charges';
import { billingError } from '../../workflows';
import { stateQuery } from '../../definitions/messages';
import { approvalSignal } from '../../definitions/approval';
import type { ChargeEntry } from '../../definitions/charges';
import type { BillingErrorInput } from '../../workflows/billing-error';
import { PolicyRefusedError, startIncident } from '../../client/incidents';
import { uniqueId } from '../../rig/env';
import { waitUntil } from '../../rig/sandbox';
import { recordedCode } from '../../rig/approvals';
import { startBillingRig, type BillingRig } from '../../rig/billing-rig';
import { currentDetails } from '../observability/watch';

let rig: BillingRig;

async function startWorker(caps: RefundCaps) {
  const { clients, taskQueue } = await rig.startWorker({
    taskQueue: uniqueId('p0-3-caps'),
    workerEnv: {
      REFUND_CAP_PER_CHARGE: String(caps.perCharge),
      REFUND_CAP_PER_INCIDENT: String(caps.perIncidentTotal),
      REFUND_CAP_COUNT_PER_INCIDENT: String(caps.perIncidentCount),
    },
    worker: { shutdownGraceTime: '1s', maxCachedWorkflows: 0 },
  });
  expect(clients.deps.refundCaps).toEqual(caps); // from the worker's environment, through its config
  // Kept running until afterAll: the target guard workflow lives on the first test's queue.
  return { taskQueue };
}

beforeAll(async () => {
  rig = await startBillingRig({ name: 'caps' });
});

afterAll(async () => {
  await rig?.close();
});

const input = (charges: string[], policy: Record<string, unknown> = {}): BillingErrorInput => ({
  incidentId: uniqueId('P0-3-caps'),
  target: rig.sandbox.name,
  trigger: { source: 'manual', startedBy: 'oncall-test', description: 'customer charged twice' },
  charges,
  reportedBy: 'support@accubooks.test',
  policy: { verifyWindowMs: 30_000, verifyIntervalMs: 500, ...policy },
});

const refundsOf = (charge: string) => rig.stripe.refunds().filter((r) => r.body.includes(charge));
const entries = async (h: WorkflowHandle) =>
  ((await h.query(stateQuery)).checks.charges as { list: ChargeEntry[] } | undefined)?.list ?? [];
const entry = async (h: WorkflowHandle, charge: string) =>
  (await entries(h)).find((e) => e.charge === charge);

const ceoCode = (h: WorkflowHandle, gate: string, not?: string) =>
  recordedCode(rig.world, h, 'ceo', gate, not);

test('under the cap refunded at once; over the per-charge cap waits, shown with amount vs cap, refunded only after the CEO code', async () => {
  const { taskQueue } = await startWorker({
    perCharge: 500,
    perIncidentTotal: 100_000,
    perIncidentCount: 10,
  });
  const inc = input(['ch_capsmall', 'pi_capbig']);
  const handle = await rig.env.client.workflow.start(billingError, {
    taskQueue,
    workflowId: uniqueId('wf-caps-charge'),
    args: [inc],
  });
  await waitUntil(
    'the over-cap refund to wait for approval',
    async () => (await entry(handle, 'pi_capbig'))?.status === 'waiting-approval',
    90_000,
  );
  // Under the cap (100 <= 500): refunded, with its own key.
  await waitUntil(
    'the small refund',
    async () => (await entry(handle, 'ch_capsmall'))?.status === 'refunded',
  );
  expect(refundsOf('ch_capsmall').map((r) => r.idempotencyKey)).toEqual([
    `${inc.incidentId}/refund/ch_capsmall`,
  ]);
  // Over it (1099 > 500): not sent to Stripe at all.
  expect(refundsOf('pi_capbig')).toHaveLength(0);
  const s = await handle.query(stateQuery);
  expect(s.checks.refundsWaiting).toMatchObject({
    charges: [
      {
        charge: 'pi_capbig',
        amount: 1099,
        currency: 'usd',
        gate: 'refund-over-cap',
        why: expect.stringContaining('1099 usd is over the per-charge cap of 500 usd'),
      },
    ],
  });
  expect(s.checks.refundCaps).toMatchObject({ perCharge: 500, usedCount: 1, usedTotal: 100 });
  expect(await currentDetails(handle)).toContain('pi_capbig: 1099 usd, waits for approval');
  const gate = s.approvals!.find((g) => g.gate === 'refund-over-cap');
  expect(gate).toMatchObject({ status: 'pending', requiredRoles: ['CEO'] });

  // The approval message and the outcome message list it, with the amount against the cap.
  const ask = await rig.world.mailbox.waitFor(
    (m) =>
      m.to.includes('ceo@accubooks.test') &&
      m.text.includes(inc.incidentId) &&
      m.text.includes('pi_capbig') &&
      /over the cap/i.test(m.text),
  );
  expect(ask.text).toMatch(/pi_capbig: 1099 usd .*per-charge cap of 500 usd/);
  const outcome = await rig.world.mailbox.waitFor(
    (m) => m.subject.includes('Billing frozen: outcome') && m.subject.includes(inc.incidentId),
  );
  expect(outcome.text).toMatch(/WAITING for CEO approval[\s\S]*pi_capbig: 1099 usd/);

  // The CTO's word (with the CEO's code) is not enough; the code is spent and nothing is refunded.
  const first = await ceoCode(handle, 'refund-over-cap');
  await handle.signal(approvalSignal, {
    approver: 'cto',
    decision: 'approve',
    reason: 'fine',
    code: first,
  });
  await waitUntil('the refusal', async () =>
    (await handle.query(stateQuery)).approvals!.some(
      (g) => g.gate === 'refund-over-cap' && g.attempts.length === 1,
    ),
  );
  expect(refundsOf('pi_capbig')).toHaveLength(0);

  // The CEO's code: refunded in full, with its own idempotency key.
  const code = await ceoCode(handle, 'refund-over-cap', first);
  await handle.signal(approvalSignal, {
    approver: 'ceo',
    decision: 'approve',
    reason: 'customer verified',
    code,
  });
  await waitUntil(
    'the approved refund',
    async () => (await entry(handle, 'pi_capbig'))?.status === 'refunded',
  );
  expect(refundsOf('pi_capbig').map((r) => r.idempotencyKey)).toEqual([`${inc.incidentId}/refund/pi_capbig`]);
  expect(await entry(handle, 'pi_capbig')).toMatchObject({ approvedBy: 'ceo (CEO)' });
  expect((await handle.query(stateQuery)).checks.refundsWaiting).toBeUndefined();

  // Billing resumes on its own gate, as before.
  await handle.signal(approvalSignal, {
    approver: 'ceo',
    decision: 'approve',
    reason: 'refunds done',
    code: await ceoCode(handle, 'resume-billing'),
  });
  const final = await handle.result();
  expect(final.status).toBe('resolved');
  expect((final.checks.refunds as unknown[]).length).toBe(2);
});

test('per-incident total cap: the refund that would pass it waits; a CEO rejection is recorded and nothing is refunded', async () => {
  const { taskQueue } = await startWorker({
    perCharge: 10_000,
    perIncidentTotal: 250,
    perIncidentCount: 10,
  });
  const inc = input(['ch_totala', 'ch_totalb', 'ch_totalc']);
  const handle = await rig.env.client.workflow.start(billingError, {
    taskQueue,
    workflowId: uniqueId('wf-caps-total'),
    args: [inc],
  });
  await waitUntil(
    'the third refund to wait',
    async () => (await entry(handle, 'ch_totalc'))?.status === 'waiting-approval',
    90_000,
  );
  expect((await entry(handle, 'ch_totalc'))?.overCap).toContain(
    "it would bring this incident's automatic refunds to 300 usd, over the per-incident cap of 250 usd",
  );
  await waitUntil(
    'the first two refunds',
    async () => (await entries(handle)).filter((e) => e.status === 'refunded').length === 2,
  );
  await handle.signal(approvalSignal, {
    approver: 'ceo',
    decision: 'reject',
    reason: 'not our charge',
    code: await ceoCode(handle, 'refund-over-cap'),
  });
  await waitUntil('the rejection', async () => (await entry(handle, 'ch_totalc'))?.status === 'rejected');
  expect(await entry(handle, 'ch_totalc')).toMatchObject({ note: 'rejected by ceo: not our charge' });
  expect(refundsOf('ch_totalc')).toHaveLength(0);
  expect((await handle.query(stateQuery)).decisions.some((d) => /NOT made.*ch_totalc/.test(d))).toBe(true);

  await handle.signal(approvalSignal, {
    approver: 'ceo',
    decision: 'approve',
    reason: 'resume',
    code: await ceoCode(handle, 'resume-billing'),
  });
  const final = await handle.result();
  expect(final.status).toBe('resolved');
  expect(refundsOf('ch_totalc')).toHaveLength(0);
});

test('per-incident count cap: the refund past the count waits for approval, and resume waits for that decision', async () => {
  const { taskQueue } = await startWorker({
    perCharge: 10_000,
    perIncidentTotal: 100_000,
    perIncidentCount: 1,
  });
  const inc = input(['ch_counta', 'ch_countb']);
  const handle = await rig.env.client.workflow.start(billingError, {
    taskQueue,
    workflowId: uniqueId('wf-caps-count'),
    args: [inc],
  });
  await waitUntil(
    'the second refund to wait',
    async () => (await entry(handle, 'ch_countb'))?.status === 'waiting-approval',
    90_000,
  );
  expect((await entry(handle, 'ch_countb'))?.overCap).toContain(
    'it would be automatic refund #2 of this incident, over the cap of 1',
  );
  expect(refundsOf('ch_countb')).toHaveLength(0);
  // Billing resume approved first: it waits for the refund decision, and says so.
  await handle.signal(approvalSignal, {
    approver: 'ceo',
    decision: 'approve',
    reason: 'resume',
    code: await ceoCode(handle, 'resume-billing'),
  });
  await waitUntil('resume to wait for the refund decision', async () =>
    /waiting for the refund\(s\) of ch_countb \(over the cap/.test(
      (await handle.query(stateQuery)).currentStep,
    ),
  );
  await rig.world.mailbox.waitFor(
    (m) =>
      m.subject.includes('Approved: billing resumes after the pending refunds') &&
      m.subject.includes(inc.incidentId),
  );
  await handle.signal(approvalSignal, {
    approver: 'ceo',
    decision: 'approve',
    reason: 'verified',
    code: await ceoCode(handle, 'refund-over-cap'),
  });
  const final = await handle.result();
  expect(final.status).toBe('resolved');
  expect(refundsOf('ch_countb').map((r) => r.idempotencyKey)).toEqual([`${inc.incidentId}/refund/ch_countb`]);
});

test('a trigger-time override that tries to raise a refund cap is refused with a clear error, and nothing starts', async () => {
  const workflowId = uniqueId('wf-caps-raise');
  // The path of the CLI and the intake: refused before anything starts.
  const err = await startIncident({
    client: rig.env.client,
    taskQueue: uniqueId('nowhere'),
    runbook: 'P0-3',
    target: rig.sandbox.name,
    trigger: { source: 'manual', startedBy: 'mallory' },
    policy: { refundCapPerCharge: 1e9 },
    extraInput: { charges: ['ch_mallory'] },
    workflowId,
  }).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(PolicyRefusedError);
  expect((err as Error).message).toMatch(
    /refundCapPerCharge cannot be set by a trigger: the refund caps are the worker's configuration \(REFUND_CAP_PER_CHARGE\)/,
  );
  await expect(rig.env.client.workflow.getHandle(workflowId).describe()).rejects.toThrow(/not found/i);

  // Started by hand (the UI's "Start workflow"): the workflow fails before its first activity.
  const { taskQueue } = await startWorker({
    perCharge: 500,
    perIncidentTotal: 1000,
    perIncidentCount: 2,
  });
  const handle = await rig.env.client.workflow.start(billingError, {
    taskQueue,
    workflowId: uniqueId('wf-caps-raise-hand'),
    args: [input(['ch_mallory'], { maxRefundAmount: 1e9 })],
  });
  await expect(handle.result()).rejects.toThrow();
  const events = (await handle.fetchHistory()).events ?? [];
  const failed = events.find(
    (e) => e.workflowExecutionFailedEventAttributes,
  )?.workflowExecutionFailedEventAttributes;
  expect(failed?.failure?.message).toMatch(/maxRefundAmount cannot be set by a trigger/);
  expect(failed?.failure?.applicationFailureInfo?.type).toBe('INVALID_POLICY');
  expect(events.some((e) => e.activityTaskScheduledEventAttributes)).toBe(false);
  expect(refundsOf('ch_mallory')).toHaveLength(0);
});
