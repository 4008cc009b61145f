/** P0-3 Billing error: the seed's durations and roles. */
import { runbookApprovalDefaults, type RunbookApprovalPolicy } from './approval';
import { commonDefaults, type CommonPolicy } from './common';

export interface BillingErrorPolicy extends CommonPolicy, RunbookApprovalPolicy {
  /** Row of billing_config the app reads (default: the worker's BILLING_KEY). */
  billingKey?: string;
  /** Folder under the evidence directory for refund documents. */
  refundsSubdir: string;
  /** "Notify CEO + CTO immediately". */
  notifyRoles: string[];
  stopTimeoutSec: number;
  healthTimeoutMs: number;
  verifyWindowMs: number;
  verifyIntervalMs: number;
}

export const billingErrorDefaults: BillingErrorPolicy = {
  ...commonDefaults,
  refundsSubdir: 'phase4_billing/refunds',
  notifyRoles: ['CEO', 'CTO'],
  ...runbookApprovalDefaults,
  stopTimeoutSec: 10,
  healthTimeoutMs: 5_000,
  verifyWindowMs: 2 * 60_000,
  verifyIntervalMs: 2_000,
};
