/**
 * P0-3's billing switch (billingConfig.enabled in the app's store), for billing-error.ts: set it on
 * through the target guard after the approval, restart the app (through the guard) so it reads the
 * switch, and ask the app what it reports (GET /api/billing/status).
 */
import { checks } from './activity-proxies';
import type { ApprovalGate } from './approval';
import type { BillingErrorPolicy } from '../definitions/policies/billing-error';
import { failureText, type Incident, withSummary } from './incident';
import { guardedCheck, restartTarget } from './guarded-actions';
import { assumedStep, verifyHealthy } from './verify-health';

/** billingConfig.enabled = true in the store (through the guard); true when it is set. */
export async function switchBillingOn(
  inc: Incident,
  gate: ApprovalGate,
  target: string,
  policy: BillingErrorPolicy,
): Promise<boolean> {
  const resumed = await guardedCheck(
    inc,
    target,
    'setBillingEnabled',
    {
      name: 'resume-billing',
      title: 'Resume billing: billingConfig.enabled = true',
      reason: `P0-3 ${inc.state.incidentId}: resume billing after approval`,
      summary: 'Resume billing: billingConfig.enabled = true',
      describe: (r) => `enabled ${r.before.enabled} → ${r.after.enabled}`,
    },
    {
      enabled: true,
      by: `P0-3 ${inc.state.incidentId}: approved by ${gate.record.approvedBy.map((a) => a.approver).join(', ')}`,
      key: policy.billingKey,
    },
  );
  if (!resumed) return false;
  inc.state.checks.billingSwitch = resumed.after;
  return true;
}

/** Asks the app what it reports (GET /api/billing/status); true when it matches `enabled`. */
export async function appReportsBilling(
  inc: Incident,
  target: string,
  enabled: boolean,
  policy: BillingErrorPolicy,
): Promise<boolean> {
  const verb = enabled ? 'resume' : 'freeze';
  const step = {
    name: `verify-${verb}`,
    title: `Verify the app reports billing ${enabled ? 'enabled' : 'frozen'}`,
  };
  // A dry run after a planned action: the app is assumed to report what the switch was set to.
  if (assumedStep(inc, step, `GET /api/billing/status reports enabled=${enabled}`)) return true;
  const status = await inc.check(
    step.name,
    step.title,
    () =>
      withSummary(checks.appBillingStatus, `GET /api/billing/status on ${target}`, {
        target,
        timeoutMs: policy.healthTimeoutMs,
      }),
    (s) => `app reports enabled=${s.enabled} since ${s.since}`,
  );
  if (status) inc.state.checks.appBilling = status;
  if (status && status.enabled !== enabled)
    inc.state.failing[`verify-${verb}`] = `the app reports billing enabled=${status.enabled}`;
  return status?.enabled === enabled;
}

/** Restarts the app (through the guard) so it reads the switch, then checks what it reports. */
export async function applyBillingSwitch(
  inc: Incident,
  target: string,
  enabled: boolean,
  policy: BillingErrorPolicy,
  /** Page when the restart is refused (the resume loop pages on its own schedule). */
  escalate = true,
): Promise<boolean> {
  const verb = enabled ? 'resume' : 'freeze';
  const restart = await restartTarget(inc, target, {
    title: `Restart app so the ${verb} takes effect`,
    reason: `P0-3 ${inc.state.incidentId}: billing ${verb}`,
    stopTimeoutSec: policy.stopTimeoutSec,
    // The app reads the switch only at start: a restart made before the switch changed is no use.
    afterChange: true,
  }).catch((err: unknown) => ({ done: false as const, refusedBecause: failureText(err) }));
  if (!restart.done) {
    inc.decide(`App not restarted for the billing ${verb}: ${restart.refusedBecause}`);
    inc.state.failing.restart = `not restarted: ${restart.refusedBecause}`;
    if (!escalate) return false;
    await inc.escalate(
      `Billing is ${enabled ? 'enabled' : 'frozen'} in the store but ${target} was not restarted: ${restart.refusedBecause}. ` +
        `It takes effect when the app next starts.`,
      'CTO (billing switch not applied)',
    );
    return false;
  }
  delete inc.state.failing.restart;
  await verifyHealthy(
    inc,
    target,
    { name: `verify-${verb}-health`, title: `Verify ${target} is back` },
    policy,
  );
  return appReportsBilling(inc, target, enabled, policy);
}
