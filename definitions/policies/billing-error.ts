/** P0-3 Billing error: the seed's durations and roles. */
import { approvalDefaults } from './approval';
import { commonDefaults, type CommonPolicy } from './common';

export interface BillingErrorPolicy extends CommonPolicy {
  /** Row of billing_config the app reads (default: the worker's BILLING_KEY). */
  billingKey?: string;
  /** Folder under the evidence directory for refund documents. */
  refundsSubdir: string;
  /** "Notify CEO + CTO immediately". */
  notifyRoles: string[];
  /** "Resume billing: CEO approval required" (e.g. ["CEO", "CTO"] to require both). */
  approvalRoles: string[];
  codeTtlMs: number;
  reminderEveryMs: number;
  maxWrongCodes: number;
  stopTimeoutSec: number;
  healthTimeoutMs: number;
  verifyWindowMs: number;
  verifyIntervalMs: number;
}

export const billingErrorDefaults: BillingErrorPolicy = {
  ...commonDefaults,
  refundsSubdir: 'phase4_billing/refunds',
  notifyRoles: ['CEO', 'CTO'],
  approvalRoles: approvalDefaults.requiredRoles,
  codeTtlMs: approvalDefaults.codeTtlMs,
  reminderEveryMs: approvalDefaults.reminderEveryMs,
  maxWrongCodes: approvalDefaults.maxWrongCodes,
  stopTimeoutSec: 10,
  healthTimeoutMs: 5_000,
  verifyWindowMs: 2 * 60_000,
  verifyIntervalMs: 2_000,
};
