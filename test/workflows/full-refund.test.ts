/**
 * "Issue FULL refund", proved (issue 18): stripe-mock is stateless, so P0-3 runs here against the
 * recording proxy in its stateful mode (rig/stripe-proxy.ts `ledger`): it remembers each
 * charge's amount and refunds, as Stripe does. The amount refunded must equal the charge's amount
 * (all of it, or all that was left after a refund by hand), and Stripe's `charge_already_refunded`
 * is recorded as done (already refunded), not as a failure. Time-skipping server, real activities.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { billingError } from '../../workflows';
import { stateQuery } from '../../definitions/messages';
import { approvalSignal } from '../../definitions/approval';
import type { ChargeEntry } from '../../definitions/charges';
import type { IncidentState } from '../../definitions/types';
import { uniqueId } from '../../rig/env';
import { waitUntil } from '../../rig/sandbox';
import type { StripeLedger } from '../../rig/stripe-proxy';
import { startBillingRig, type BillingRig } from '../../rig/billing-rig';

let rig: BillingRig;
let ledger: StripeLedger;

beforeAll(async () => {
  rig = await startBillingRig({ name: 'full', stateful: true });
  ledger = rig.stripe.ledger!;
  await rig.startWorker({ worker: { shutdownGraceTime: '1s', maxCachedWorkflows: 0 } });
});

afterAll(async () => {
  await rig?.close();
});

test('every refund is the full amount (or all that was left), and charge_already_refunded is recorded as already refunded, not a failure', async () => {
  ledger.setCharge('ch_fullplain', 4242);
  ledger.setCharge('pi_fullintent', 1599, 'eur');
  ledger.setCharge('ch_fullpartial', 5000);
  ledger.refundByHand('ch_fullpartial', 2000); // part refunded by hand before the incident
  ledger.setCharge('ch_fullbefore', 700);
  const byHand = ledger.refundByHand('ch_fullbefore'); // all of it refunded by hand before
  const charges = ['ch_fullplain', 'pi_fullintent', 'ch_fullpartial', 'ch_fullbefore'];
  const incidentId = uniqueId('P0-3-full');
  const handle = await rig.env.client.workflow.start(billingError, {
    taskQueue: rig.taskQueue,
    workflowId: uniqueId('wf-p03-full'),
    args: [
      {
        incidentId,
        target: rig.sandbox.name,
        trigger: { source: 'manual', startedBy: 'oncall-test', description: 'customer charged twice' },
        charges,
        reportedBy: 'support@accubooks.test',
        policy: { verifyWindowMs: 30_000, verifyIntervalMs: 500 },
      },
    ],
  });
  await waitUntil(
    'P0-3 to wait for the resume approval with every refund done',
    async () => {
      const s = await handle.query(stateQuery);
      const list = (s.checks.charges as { list: ChargeEntry[] } | undefined)?.list ?? [];
      return !!s.waitingFor && list.length === 4 && list.every((e) => e.status === 'refunded');
    },
    90_000,
  );

  // Stripe's own books: each charge refunded exactly its amount, by one refund of the runbook (one key).
  for (const c of charges) expect(ledger.refunded(c)).toBe(ledger.charges.get(c)!.amount);
  const made = (c: string) => ledger.charges.get(c)!.refunds.filter((r) => !r.byHand);
  expect(made('ch_fullplain')).toMatchObject([
    { amount: 4242, idempotencyKey: `${incidentId}/refund/ch_fullplain` },
  ]);
  expect(made('pi_fullintent')).toMatchObject([{ amount: 1599 }]);
  expect(made('ch_fullpartial')).toMatchObject([{ amount: 3000 }]); // all that was left
  expect(made('ch_fullbefore')).toEqual([]); // Stripe refused: already refunded
  expect(ledger.alreadyRefundedAnswers).toEqual(['ch_fullbefore']);

  // The runbook's books agree: amounts in the state, the already refunded one recorded as such.
  const s: IncidentState = await handle.query(stateQuery);
  const refunds = s.checks.refunds as {
    reported: string;
    amount: number;
    currency: string;
    refundId: string;
    alreadyRefunded: boolean;
  }[];
  const by = (c: string) => refunds.find((r) => r.reported === c);
  expect(by('ch_fullplain')).toMatchObject({ amount: 4242, currency: 'usd', alreadyRefunded: false });
  expect(by('pi_fullintent')).toMatchObject({ amount: 1599, currency: 'eur', alreadyRefunded: false });
  expect(by('ch_fullpartial')).toMatchObject({ amount: 3000, alreadyRefunded: false });
  expect(by('ch_fullbefore')).toMatchObject({ amount: 700, refundId: byHand.id, alreadyRefunded: true });
  const before = (s.checks.charges as { list: ChargeEntry[] }).list.find((e) => e.charge === 'ch_fullbefore');
  expect(before).toMatchObject({
    status: 'refunded',
    note: 'refunded before (Stripe: charge_already_refunded)',
  });
  // Not a failure: nothing failing, no "Refunds failed" page.
  expect(s.failing.refunds).toBeUndefined();
  expect(s.escalations.some((e) => /Refunds failed/.test(e.reason))).toBe(false);
  // Documented like the others, with the refund that did it.
  const doc = JSON.parse(
    readFileSync(
      path.join(rig.evidenceDir, 'phase4_billing/refunds', incidentId, 'ch_fullbefore.json'),
      'utf8',
    ),
  ) as Record<string, unknown>;
  expect(doc).toMatchObject({ refundId: byHand.id, amount: 700, alreadyRefunded: true });

  const code = await rig.world.waitForCode('ceo');
  await waitUntil(
    'the code to be recorded',
    async () =>
      !!(await handle.query(stateQuery)).approvals?.find((g) => g.gate === 'resume-billing')?.codes.length,
  );
  await handle.signal(approvalSignal, { approver: 'ceo', decision: 'approve', reason: 'refunded', code });
  expect((await handle.result()).status).toBe('resolved');
});
