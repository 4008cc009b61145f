/**
 * What P0-3's charges and refunds are, shared by the runbook (workflows/billing-refunds.ts), the
 * Stripe activities, the worker's configuration and every client that adds or shows charges.
 */

/** Charge (`ch_`/`py_`) and payment intent (`pi_`) IDs (the same as activities/stripe.ts checks). */
export const CHARGE_ID_PATTERN = /^(ch|py|pi)_[A-Za-z0-9]{1,200}$/;
/** Charges one incident tracks; more are refused (the state and history stay bounded). */
export const MAX_CHARGES_PER_INCIDENT = 100;
export const REFUND_OVER_CAP_GATE = 'refund-over-cap';
/** Requests to add charges kept one by one in the state; past it they are only counted. */
export const MAX_STORED_CHARGE_REQUESTS = 50;

/**
 * New charges for a running P0-3 (signal `addCharges`, from the UI or `runbooks charges add`; an
 * alert with charges joins the same way). `requestId` lets a client find its answer in the state.
 */
export interface AddCharges {
  charges: string[];
  /** Who reports them (recorded, shown; proves nothing). */
  by: string;
  reason?: string;
  requestId?: string;
  via?: string;
}

/** What came of one request to add charges, as the state shows it. */
export interface ChargeRequestRecord extends ChargesAdded {
  requestId?: string;
  at: string;
  via: string;
  by: string;
  reason?: string;
  refusedBecause?: string;
}

export type ChargeStatus =
  | 'checking'
  | 'refunding'
  | 'retrying'
  | 'refunded'
  | 'waiting-approval'
  | 'rejected'
  | 'failed'
  | 'not-refunded';

/** One charge the incident heard of, as the state shows it. */
export interface ChargeEntry {
  charge: string;
  /** Where it came from: "trigger", "alert", "signal (CLI)", "signal"... */
  source: string;
  addedBy: string;
  status: ChargeStatus;
  amount?: number;
  currency?: string;
  /** Why it waits for (or waited for) an approval: the amount against the cap. */
  overCap?: string;
  gate?: string;
  refundId?: string;
  /** Refunded through an approval (by whom), not automatically. */
  approvedBy?: string;
  note?: string;
}

/** What `add` did with a list of charges. */
export interface ChargesAdded {
  added: string[];
  duplicates: string[];
  invalid: string[];
}

/** P0-3: the most a runbook refunds without an approval (amounts in the smallest currency unit). */
export interface RefundCaps {
  /** One charge's refund. */
  perCharge: number;
  /** All automatic refunds of one incident together. */
  perIncidentTotal: number;
  /** How many automatic refunds one incident makes. */
  perIncidentCount: number;
}

/** The caps when the worker sets none (REFUND_CAP_*): $500 a charge, $2,000 and 10 refunds an incident. */
export const DEFAULT_REFUND_CAPS: RefundCaps = {
  perCharge: 50_000,
  perIncidentTotal: 200_000,
  perIncidentCount: 10,
};
