/**
 * The single Stripe and evidence steps of a P0-3 refund (billing-refunds.ts runs them per charge):
 * read a charge's refundable amount, refund it in full through the target guard (idempotency key
 * `<incident>/refund/<charge>`), and document it (step 4). Quick attempts first; a refund that fails
 * them is retried by the patient proxy (same key) for up to a day.
 */
import { proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { ChargeAmount, RefundRecord } from '../activities/stripe';
import { actions } from './activity-proxies';
import { type Incident, withSummary } from './incident';
import { money } from './refund-caps';
import { guardedStep } from './guarded-actions';

/** Refunds call Stripe: a few attempts, each with the same idempotency key. */
const payments = proxyActivities<Activities>({
  startToCloseTimeout: '1 minute',
  retry: {
    initialInterval: '2s',
    backoffCoefficient: 2,
    maximumInterval: '30s',
    maximumAttempts: 5,
    nonRetryableErrorTypes: ['INVALID_INPUT', 'ACTION_REFUSED'],
  },
});

/**
 * A refund that failed its quick attempts (Stripe down) keeps being retried in the background, with
 * the same idempotency key: backing off to 10 minutes for up to a day. Retries add no history.
 */
const patientPayments = proxyActivities<Activities>({
  startToCloseTimeout: '1 minute',
  scheduleToCloseTimeout: '24 hours',
  retry: {
    initialInterval: '30s',
    backoffCoefficient: 2,
    maximumInterval: '10 minutes',
    // No maximumAttempts: unlimited within the schedule-to-close day.
    nonRetryableErrorTypes: ['INVALID_INPUT', 'ACTION_REFUSED'],
  },
});

/** What the refund steps need to know of the incident's billing error. */
export interface RefundStepOptions {
  target: string;
  reportedBy: string;
  operator: string;
  refundsSubdir: string;
}

/** 2. The refundable amount of a charge (for the refund caps). */
export function readChargeAmount(inc: Incident, charge: string, patient: boolean): Promise<ChargeAmount> {
  return inc.step(
    patient ? `amount-${charge}-retry` : `amount-${charge}`,
    `2. Read the amount of ${charge}${patient ? ' (retrying until Stripe answers)' : ''}`,
    () =>
      withSummary(
        (patient ? patientPayments : payments).describeCharge,
        `Stripe: read ${charge}'s amount (for the refund caps)`,
        { charge },
      ),
    (a) => `${money(a.refundable, a.currency)} refundable of ${money(a.amount, a.currency)}`,
  );
}

/** 2. A full refund through the target guard; a refusal counts as a failure (retried, escalated). */
export async function refundCharge(
  inc: Incident,
  opts: RefundStepOptions,
  charge: string,
  patient: boolean,
  approvedBy: string | undefined,
): Promise<RefundRecord> {
  const { incidentId } = inc.state;
  const out = await guardedStep(
    inc,
    opts.target,
    'refundCharge',
    {
      name: patient ? `refund-${charge}-retry` : `refund-${charge}`,
      title: patient
        ? `2. Full refund of ${charge} (retrying until Stripe answers)`
        : `2. Full refund of ${charge}${approvedBy ? ' (approved over the cap)' : ''}`,
      reason: `P0-3 ${incidentId}: refund ${charge}`,
      summary: `Stripe: full refund of ${charge}${patient ? ' (retrying)' : ''}`,
      describe: describeRefund,
      via: patient ? patientPayments : payments,
    },
    {
      incidentId,
      charge,
      idempotencyKey: `${incidentId}/refund/${charge}`,
      reason: `P0-3 billing error reported by ${opts.reportedBy}${approvedBy ? `; over the cap, approved by ${approvedBy}` : ''}`,
    },
  );
  if (!out.done) throw new Error(`refused by the target guard: ${out.refusedBecause}`);
  return out.result!;
}

/** 4. Document a refund under the evidence directory (written once; undefined when it failed). */
export function documentRefund(inc: Incident, opts: RefundStepOptions, refund: RefundRecord) {
  // A dry run's refund was only planned: there is nothing to document, and no file is written.
  if (inc.rehearsal) {
    inc.skip(
      `document-${refund.requested}`,
      `4. Document refund of ${refund.requested}`,
      'dry run: would document the refund under the evidence directory',
    );
    return Promise.resolve(undefined);
  }
  return inc.check(
    `document-${refund.requested}`,
    `4. Document refund ${refund.refundId}`,
    () =>
      withSummary(actions.writeRefundEvidence, `Document refund ${refund.refundId} of ${refund.requested}`, {
        incidentId: inc.state.incidentId,
        subdir: opts.refundsSubdir,
        refund,
        operator: opts.operator,
        reportedBy: opts.reportedBy,
        documentedAt: new Date().toISOString(),
      }),
    (d) => `${d.path}${d.alreadyWritten ? ' (already written)' : ''}`,
  );
}

export const describeRefund = (r: RefundRecord) =>
  `refund ${r.refundId}: ${money(r.amount, r.currency)} (${r.status})${r.alreadyRefunded ? ', refunded before' : ''}`;
