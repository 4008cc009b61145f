/**
 * Refunds through the Stripe API. Each refund carries an idempotency key derived from the incident
 * and the charge, so a retried activity or a restarted worker sends the same key and Stripe
 * answers with the first refund instead of making a second one.
 */
import { log } from '@temporalio/activity';
import type Stripe from 'stripe';
import type { RefundCaps } from '../definitions/charges';
import { describeError, FailureType, nonRetryable, retryable } from '../definitions/errors';

/** Charge (`ch_`/`py_`) and payment intent (`pi_`) IDs as Stripe writes them. */
export const CHARGE_ID = /^(ch|py|pi)_[A-Za-z0-9]+$/;

/** What a charge would give back on a full refund, read before deciding whether it is within the caps. */
export interface ChargeAmount {
  /** The ID as reported. */
  requested: string;
  /** The charge itself (a payment intent's latest charge). */
  charge: string;
  /** Charged, in the smallest currency unit. */
  amount: number;
  amountRefunded: number;
  /** What a full refund returns now: amount - amountRefunded. */
  refundable: number;
  currency: string;
}

export interface RefundInput {
  incidentId: string;
  /** A charge (`ch_…`) or payment intent (`pi_…`) ID as reported. */
  charge: string;
  /** Same on every attempt of this refund: `<incident>/refund/<charge>`. */
  idempotencyKey: string;
  reason: string;
}

export interface RefundRecord {
  /** The ID as reported (charge or payment intent): names the evidence file. */
  requested: string;
  refundId: string;
  charge: string;
  paymentIntent: string | null;
  amount: number;
  currency: string;
  status: string | null;
  createdAt: string;
  idempotencyKey: string;
  alreadyRefunded: boolean;
}

const toRecord = (r: Stripe.Refund, input: RefundInput, alreadyRefunded: boolean): RefundRecord => ({
  requested: input.charge,
  refundId: r.id,
  charge: typeof r.charge === 'string' ? r.charge : (r.charge?.id ?? input.charge),
  paymentIntent: typeof r.payment_intent === 'string' ? r.payment_intent : (r.payment_intent?.id ?? null),
  amount: r.amount,
  currency: r.currency,
  status: r.status,
  createdAt: new Date(r.created * 1000).toISOString(),
  idempotencyKey: input.idempotencyKey,
  alreadyRefunded,
});

const classify = (err: unknown, text: string) => {
  const e = err as { type?: string; statusCode?: number };
  if (e.type === 'StripeInvalidRequestError' || e.type === 'StripeIdempotencyError' || e.statusCode === 404)
    return nonRetryable(FailureType.InvalidInput, text);
  if (e.type === 'StripeAuthenticationError' || e.type === 'StripePermissionError')
    return nonRetryable(FailureType.ActionRefused, text);
  return retryable(FailureType.DependencyUnavailable, text);
};

const checkId = (charge: string) => {
  if (!CHARGE_ID.test(charge)) {
    throw nonRetryable(
      FailureType.InvalidInput,
      `"${charge.slice(0, 40)}" is not a Stripe charge (ch_…) or payment intent (pi_…) ID`,
    );
  }
};

export const createStripeActivities = (deps: { stripe: Stripe; refundCaps: RefundCaps }) => ({
  /** The worker's refund caps (REFUND_CAP_*): the workflow learns them here, never from its trigger. */
  // eslint-disable-next-line @typescript-eslint/require-await
  async refundCaps(): Promise<RefundCaps> {
    return { ...deps.refundCaps };
  },

  /** Read-only: how much a full refund of the charge would return, for the caps. */
  async describeCharge(input: { charge: string }): Promise<ChargeAmount> {
    checkId(input.charge);
    try {
      let chargeId = input.charge;
      if (input.charge.startsWith('pi_')) {
        const pi = await deps.stripe.paymentIntents.retrieve(input.charge);
        const latest = typeof pi.latest_charge === 'string' ? pi.latest_charge : pi.latest_charge?.id;
        if (!latest) {
          const amount = pi.amount_received || pi.amount;
          return {
            requested: input.charge,
            charge: input.charge,
            amount,
            amountRefunded: 0,
            refundable: amount,
            currency: pi.currency,
          };
        }
        chargeId = latest;
      }
      const c = await deps.stripe.charges.retrieve(chargeId);
      return {
        requested: input.charge,
        charge: c.id,
        amount: c.amount,
        amountRefunded: c.amount_refunded,
        refundable: Math.max(0, c.amount - c.amount_refunded),
        currency: c.currency,
      };
    } catch (err) {
      throw classify(err, `Stripe: reading ${input.charge}: ${describeError(err)}`);
    }
  },

  /** Runbook step "Issue full refund": no amount, so Stripe refunds whatever is left of the charge. */
  async refundCharge(input: RefundInput): Promise<RefundRecord> {
    checkId(input.charge);
    const target = input.charge.startsWith('pi_')
      ? { payment_intent: input.charge }
      : { charge: input.charge };
    try {
      const refund = await deps.stripe.refunds.create(
        { ...target, reason: 'requested_by_customer', metadata: { incident: input.incidentId } },
        { idempotencyKey: input.idempotencyKey },
      );
      log.info('refund issued', { charge: input.charge, refund: refund.id });
      return toRecord(refund, input, false);
    } catch (err) {
      const e = err as { code?: string };
      if (e.code === 'charge_already_refunded') {
        // Refunded before (by hand, or by a run that lost its answer): report that refund.
        const list = await deps.stripe.refunds.list({ ...target, limit: 1 });
        if (list.data[0]) return toRecord(list.data[0], input, true);
      }
      throw classify(err, `Stripe refund of ${input.charge}: ${describeError(err)}`);
    }
  },
});
