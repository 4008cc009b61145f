/**
 * Refunds through the Stripe API. Each refund carries an idempotency key derived from the incident
 * and the charge, so a retried activity or a restarted worker sends the same key and Stripe
 * answers with the first refund instead of making a second one.
 */
import { log } from '@temporalio/activity';
import type Stripe from 'stripe';
import { describeError, FailureType, nonRetryable, retryable } from './errors';

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

export const createStripeActivities = (deps: { stripe: Stripe }) => ({
  /** Runbook step "Issue full refund": no amount, so Stripe refunds whatever is left of the charge. */
  async refundCharge(input: RefundInput): Promise<RefundRecord> {
    if (!/^(ch|py|pi)_[A-Za-z0-9]+$/.test(input.charge)) {
      throw nonRetryable(
        FailureType.InvalidInput,
        `"${input.charge.slice(0, 40)}" is not a Stripe charge (ch_…) or payment intent (pi_…) ID`,
      );
    }
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
      const e = err as { type?: string; code?: string; statusCode?: number };
      if (e.code === 'charge_already_refunded') {
        // Refunded before (by hand, or by a run that lost its answer): report that refund.
        const list = await deps.stripe.refunds.list({ ...target, limit: 1 });
        if (list.data[0]) return toRecord(list.data[0], input, true);
      }
      const text = `Stripe refund of ${input.charge}: ${describeError(err)}`;
      if (
        e.type === 'StripeInvalidRequestError' ||
        e.type === 'StripeIdempotencyError' ||
        e.statusCode === 404
      )
        throw nonRetryable(FailureType.InvalidInput, text);
      if (e.type === 'StripeAuthenticationError' || e.type === 'StripePermissionError')
        throw nonRetryable(FailureType.ActionRefused, text);
      throw retryable(FailureType.DependencyUnavailable, text);
    }
  },
});
