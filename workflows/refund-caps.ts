/**
 * P0-3 refund caps: what a runbook refunds on its own, without a person's approval. Charge IDs
 * arrive in alerts (anyone with the intake token), from the CLI and from a UI signal, so the money
 * an incident moves by itself is bounded per charge and per incident (total amount and count). The
 * caps are the worker's configuration (REFUND_CAP_*, config/index.ts), read through an activity:
 * no trigger or signal can set them (gate-policy.ts refuses a policy override that names them).
 */
import type { RefundCaps } from '../definitions/charges';

/** Automatic refunds an incident has made (or reserved: decided and under way). */
export interface RefundCapUse {
  count: number;
  total: number;
}

/** "1099 usd": amounts stay in the smallest currency unit, as Stripe and the caps count them. */
export const money = (amount: number, currency: string) => `${amount} ${currency}`;

/** Why refunding `amount` now would pass a cap (one clause per cap), or undefined when within all. */
export function overRefundCap(
  caps: RefundCaps,
  used: RefundCapUse,
  amount: number,
  currency: string,
): string | undefined {
  const why: string[] = [];
  if (amount > caps.perCharge)
    why.push(`${money(amount, currency)} is over the per-charge cap of ${money(caps.perCharge, currency)}`);
  if (used.count + 1 > caps.perIncidentCount)
    why.push(
      `it would be automatic refund #${used.count + 1} of this incident, over the cap of ${caps.perIncidentCount}`,
    );
  if (used.total + amount > caps.perIncidentTotal)
    why.push(
      `it would bring this incident's automatic refunds to ${money(used.total + amount, currency)}, over the per-incident cap of ${money(caps.perIncidentTotal, currency)}`,
    );
  return why.length ? why.join('; ') : undefined;
}

export const describeCaps = (caps: RefundCaps) =>
  `per charge ${caps.perCharge}, per incident ${caps.perIncidentTotal} in at most ${caps.perIncidentCount} refund(s) (smallest currency unit)`;
