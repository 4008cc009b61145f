/**
 * P0-3: BILLING ERROR
 * Detection: Incorrect charge reported
 * Actions:
 *   1. FREEZE BILLING: set billingConfig.enabled = false, restart app
 *   2. Issue full refund via Stripe (API; idempotency key per incident and charge), within the
 *      worker's refund caps; a refund over a cap waits for the resume roles' approval
 *      (billing-refunds.ts, refund-caps.ts)
 *   3. Notify CEO + CTO immediately (email over SMTP and the team webhook)
 *   4. Document in launch/evidence/phase4_billing/refunds/ (one file per refund, written once)
 * Resume billing: CEO approval required (one-time codes; see approval.ts). On approval: set
 * billingConfig.enabled = true and restart the app. A rejection keeps billing frozen.
 *
 * The switch and the restarts are in billing-error-switch.ts. Restarts go through the target guard
 * (target-guard.ts): if a P0-4 holds the API stopped, the switch is still set in the store and takes
 * effect when the app starts again.
 */
import { condition, setHandler } from '@temporalio/workflow';
import { addChargesSignal } from '../definitions/messages';
import { checks } from './activity-proxies';
import { ApprovalGate } from './approval';
import type { ApprovalPolicy } from '../definitions/policies/approval';
import { Incident, withSummary } from './incident';
import { billingErrorDefaults, type BillingErrorPolicy } from '../definitions/policies/billing-error';
import { withDefaults } from '../definitions/policies/gate-policy';
import { RefundDesk } from './billing-refunds';
import { appReportsBilling, applyBillingSwitch, switchBillingOn } from './billing-error-switch';
import { guardedCheck } from './guarded-actions';
import { notifyRolesStep } from './role-notice';
import type { IncidentInput, IncidentState } from '../definitions/types';

export interface BillingErrorInput extends IncidentInput<BillingErrorPolicy> {
  /** The incorrect charge(s): Stripe charge (ch_…) or payment intent (pi_…) IDs. */
  charges?: string[];
  /** Who reported the incorrect charge. */
  reportedBy?: string;
}

/** Charge IDs from the input, or from the alert (annotation `charges` / label `charge_ids`). */
export function reportedCharges(input: BillingErrorInput): string[] {
  const fromTrigger = [input.trigger.annotations?.charges, input.trigger.labels?.charge_ids]
    .filter((v): v is string => typeof v === 'string')
    .flatMap((v) => v.split(/[\s,;]+/));
  return [...new Set([...(input.charges ?? []), ...fromTrigger].map((c) => c.trim()).filter(Boolean))].slice(
    0,
    100,
  );
}

export async function billingError(input: BillingErrorInput): Promise<IncidentState> {
  const policy = withDefaults(billingErrorDefaults, input.policy);
  const inc = new Incident({ runbook: 'P0-3', name: 'Billing error', severity: 'P0' }, input, policy);
  const approvalPolicy: ApprovalPolicy = {
    requiredRoles: policy.approvalRoles,
    codeTtlMs: policy.codeTtlMs,
    reminderEveryMs: policy.reminderEveryMs,
    maxWrongCodes: policy.maxWrongCodes,
  };
  const gate = new ApprovalGate(
    inc.approvals,
    'resume-billing',
    'Resume billing (billingConfig.enabled = true) and restart the app',
    approvalPolicy,
  );
  const target = input.target;
  // A person's resolve counts only once billing was approved to resume and the app reports it on.
  inc.endStateCheck = () => billingBackOn(gate, target, policy);
  const charges = reportedCharges(input);
  const reportedBy =
    input.reportedBy ?? input.trigger.annotations?.reported_by ?? input.trigger.startedBy ?? 'unknown';
  inc.state.checks.reported = { charges, reportedBy };
  const desk = openRefundDesk(inc, input, policy, approvalPolicy, charges, reportedBy);
  inc.setStatus('remediating');

  // 3. Notify CEO + CTO immediately: the first message goes out alongside the freeze (1.), before
  // its outcome is known; the outcome (frozen? refunded?) follows in a second message.
  // 1. FREEZE BILLING: billingConfig.enabled = false (kept trying: nothing matters more), then restart.
  const firstNotice = [
    `Billing error reported by ${reportedBy}: charges ${charges.join(', ') || '(none named)'}.`,
    'Billing is being FROZEN now (billingConfig.enabled = false) and the charges refunded; the outcome follows in a second message.',
    `Billing resumes only with ${policy.approvalRoles.join(' + ')} approval (one-time codes follow).`,
  ].join('\n');
  const subject = 'Billing error: freezing billing now';
  const [, frozen] = await Promise.all([
    notifyRoles(inc, policy, 'notify', notifyTitle(policy), subject, firstNotice, 'notify'),
    freezeBilling(inc, target, policy),
  ]);
  if (!frozen) return inc.finishByHuman();
  const applied = await applyBillingSwitch(inc, target, false, policy);
  void desk.run();

  // 2. Issue a full refund for each reported charge, within the worker's refund caps (the desk
  // also documents each refund, 4.). Charges added later join the same desk.
  await condition(() => desk.firstPassDone || inc.closed);
  if (charges.length === 0) {
    inc.skip(
      'refund',
      '2. Issue full refund via Stripe',
      'no charge IDs were reported; a person must name them',
    );
  }
  const refundFailures = desk.newFailures.splice(0);

  // 3. (follow-up) The outcome of the freeze and the refunds, to the same people.
  const outcome = [
    `Billing error reported by ${reportedBy}: charges ${charges.join(', ') || '(none named)'}.`,
    `Billing is FROZEN (billingConfig.enabled = false)${applied ? ' and the app restarted with it' : '; the app restart is pending (see the incident)'}.`,
    ...desk.summaryLines(),
    `Billing resumes only with ${policy.approvalRoles.join(' + ')} approval (one-time codes follow).`,
  ];
  const title = `${notifyTitle(policy)}: outcome`;
  const text = outcome.filter(Boolean).join('\n');
  await notifyRoles(inc, policy, 'notify-outcome', title, 'Billing frozen: outcome', text, 'outcome');
  if (refundFailures.length) {
    await inc.escalate(`Refunds failed: ${refundFailures.join('; ')}`, 'CTO (refund failed)');
  }

  // Resume billing: CEO approval required. An approved abandon ends the wait (and its reminders) with
  // billing still frozen; a resolve cannot (its check needs the approval).
  if (!(await resumeApproved(inc, gate, desk, reportedBy))) {
    inc.decide(
      'Closed by a person before the approval: billing stays FROZEN (billingConfig.enabled = false)',
    );
    return inc.finishByHuman();
  }
  const approvedBy = gate.record.approvedBy.map((a) => `${a.approver} (${a.roles.join('/')})`).join(', ');
  // Refunds still being retried, or waiting for a decision over a cap, are waited for (or a person
  // closes the incident) before billing resumes: said in the state, the current details and a
  // message to the approvers.
  if (!desk.settled) await waitForRefunds(inc, desk, policy, `Approved by ${approvedBy}`);
  if (inc.closedByHuman) return inc.finishByHuman();
  return resumeBilling(inc, gate, desk, target, policy, approvedBy);
}

/** The end state a person's resolve is checked against: approved, and the app reports billing on. */
async function billingBackOn(
  gate: ApprovalGate,
  target: string,
  policy: BillingErrorPolicy,
): Promise<{ ok: boolean; detail: string }> {
  if (!gate.approved)
    return { ok: false, detail: `billing stays frozen until ${policy.approvalRoles.join(' + ')} approve` };
  const s = await withSummary(checks.appBillingStatus, `Check: does ${target} report billing enabled?`, {
    target,
    timeoutMs: policy.healthTimeoutMs,
  });
  return { ok: s.enabled, detail: `the app reports billing enabled=${s.enabled}` };
}

/**
 * The refund desk of this incident, with the reported charges queued; new charges join it from the
 * UI or the CLI (signal), or a later alert.
 */
function openRefundDesk(
  inc: Incident,
  input: BillingErrorInput,
  policy: BillingErrorPolicy,
  approvalPolicy: ApprovalPolicy,
  charges: string[],
  reportedBy: string,
): RefundDesk {
  const operator = `accubooks-runbooks (${inc.state.incidentId}${input.trigger.startedBy ? `, started by ${input.trigger.startedBy}` : ''})`;
  const desk = new RefundDesk(inc, {
    target: input.target,
    notifyRoles: policy.notifyRoles,
    reportedBy,
    operator,
    refundsSubdir: policy.refundsSubdir,
    approvalPolicy,
  });
  const added = desk.add(charges, 'trigger', reportedBy);
  if (added.invalid.length)
    inc.decide(`Not a Stripe charge or payment intent ID, not refunded: ${added.invalid.join(', ')}`);
  setHandler(addChargesSignal, (req) => void desk.request(req, 'signal'), {
    description:
      'Add incorrect charges to this billing error: {"charges": ["ch_…"], "by": "<who>", "reason": "<why>"}. Each is refunded within the refund caps; over a cap it waits for the resume roles\' approval.',
  });
  inc.onAlert = (event) => {
    if (event.status === 'firing' && event.charges !== undefined)
      desk.request(
        {
          charges: event.charges,
          by: event.labels?.reported_by ?? event.alertName ?? 'alert',
          reason: 'a new alert',
        },
        'alert',
      );
  };
  return desk;
}

const notifyTitle = (policy: BillingErrorPolicy) => `3. Notify ${policy.notifyRoles.join(' + ')}`;

/** 3. A message to the notify roles (CEO + CTO), one message ID per kind. */
function notifyRoles(
  inc: Incident,
  policy: BillingErrorPolicy,
  name: string,
  title: string,
  subject: string,
  text: string,
  id: string,
) {
  return notifyRolesStep(
    inc,
    { name, title, summary: `Notify ${policy.notifyRoles.join(' + ')}: ${subject}` },
    {
      roles: policy.notifyRoles,
      subject: `[P0-3] ${subject} (${inc.state.incidentId})`,
      text,
      messageId: `<${inc.state.incidentId}.${id}@accubooks-runbooks>`,
    },
    (d) =>
      `delivered via ${d.delivered.join(', ')} to ${d.recipients.join(', ')}${d.failed.length ? `; failed ${d.failed.map((f) => f.channel).join(', ')}` : ''}`,
  );
}

/**
 * 1. FREEZE BILLING: billingConfig.enabled = false, kept trying (nothing matters more). True once
 * frozen; false when a person closed the incident while it could not be frozen.
 */
async function freezeBilling(inc: Incident, target: string, policy: BillingErrorPolicy): Promise<boolean> {
  for (let attempt = 0; ; attempt++) {
    const frozen = await guardedCheck(
      inc,
      target,
      'setBillingEnabled',
      {
        name: 'freeze-billing',
        title: '1. Freeze billing: billingConfig.enabled = false',
        reason: `P0-3 ${inc.state.incidentId}: freeze billing`,
        summary: 'Freeze billing: billingConfig.enabled = false',
        describe: (r) => `enabled ${r.before.enabled} → ${r.after.enabled} (key ${r.after.key})`,
      },
      { enabled: false, by: `P0-3 ${inc.state.incidentId}`, key: policy.billingKey },
    );
    if (frozen) {
      inc.state.checks.billingSwitch = frozen.after;
      return true;
    }
    if (attempt === 0) {
      const why = `Billing could NOT be frozen: ${inc.state.failing['freeze-billing']}; the app may still be charging`;
      // The CEO is told too, not only the CTO tier that is paged.
      await Promise.all([
        inc.escalate(why, 'CTO (billing freeze failed)'),
        notifyRoles(
          inc,
          policy,
          'notify-not-frozen',
          notifyTitle(policy),
          'Billing could NOT be frozen',
          `${why}.\nStill trying.`,
          'not-frozen',
        ),
      ]);
    }
    // A person who resolves or abandons the incident ends the attempts (the wait below would return
    // at once and the loop would spin).
    if (inc.closedByHuman) {
      inc.decide('Closed by a person while billing could not be frozen: no further freeze attempts');
      return false;
    }
    await inc.waitFor(inc.recheckDelay(attempt), 'Wait, then try to freeze billing again');
  }
}

/**
 * Resume billing: CEO approval required. True once approved; false when a person closed the
 * incident first. The codes' message (and each reminder) lists the charges as known when it is sent.
 */
async function resumeApproved(
  inc: Incident,
  gate: ApprovalGate,
  desk: RefundDesk,
  reportedBy: string,
): Promise<boolean> {
  const approval = gate.waitForApproval(() =>
    [
      `Billing error reported by ${reportedBy}: charges ${desk.entries.map((e) => e.charge).join(', ') || '(none named)'}.`,
      `Billing is FROZEN (billingConfig.enabled = false).`,
      ...desk.summaryLines(),
    ].join('\n'),
  );
  const closedFirst = await Promise.race([
    approval.then(() => false),
    condition(() => inc.closedByHuman).then(() => true),
  ]);
  if (closedFirst) return false;
  await approval;
  return true;
}

/**
 * Resume billing, then restart the app so it reads the switch. "Resolved" means verified: the app
 * reports billing enabled. Until then the incident stays open, escalates, and retries the missing
 * step (the store, or the restart the guard may refuse for a while) on a backoff. No failure here
 * fails the workflow: the follow-up always starts.
 */
async function resumeBilling(
  inc: Incident,
  gate: ApprovalGate,
  desk: RefundDesk,
  target: string,
  policy: BillingErrorPolicy,
  approvedBy: string,
): Promise<IncidentState> {
  let switched = false;
  for (let attempt = 0; ; attempt++) {
    if (!switched) switched = await switchBillingOn(inc, gate, target, policy);
    // On a retry the app may already have picked it up (restarted by a person): no restart then.
    const live =
      switched &&
      ((attempt > 0 && (await appReportsBilling(inc, target, true, policy))) ||
        (await applyBillingSwitch(inc, target, true, policy, false)));
    if (live) {
      delete inc.state.failing.resume;
      // Charges added while billing came back are refunded (or decided) before the incident ends.
      if (!desk.settled) await waitForRefunds(inc, desk, policy, 'Billing is live again');
      if (inc.closedByHuman) return inc.finishByHuman();
      return inc.finish(
        'resolved',
        `billing resumed after approval by ${approvedBy}; the app reports billing enabled`,
      );
    }
    const missing = switched
      ? `billing is enabled in the store but ${target} does not report it yet (${inc.state.failing.restart ?? inc.state.failing['verify-resume'] ?? 'restart refused or not picked up'})`
      : `billing could not be resumed in the store (${inc.state.failing['resume-billing']})`;
    inc.state.failing.resume = missing;
    // Pages on the first miss, then about every hour at the capped backoff: a P0 keeps paging.
    if (attempt % 6 === 0)
      await inc.escalate(
        `Approved by ${approvedBy}, but billing is NOT live: ${missing}; retrying`,
        'CTO (billing resume not applied)',
      );
    if (inc.closedByHuman) return inc.finishByHuman();
    await inc.waitFor(inc.recheckDelay(attempt), 'Wait, then try again to bring billing back');
    if (inc.closedByHuman) return inc.finishByHuman();
  }
}

const waitsForRefunds = new WeakMap<Incident, number>();

/**
 * Waits until every refund is made, failed for good or decided (over a cap), or a person closes the
 * incident; says so in the state, the current details and a message to the approvers.
 */
async function waitForRefunds(
  inc: Incident,
  desk: RefundDesk,
  policy: BillingErrorPolicy,
  why: string,
): Promise<void> {
  const retrying = desk.byStatus('retrying', 'refunding', 'checking').map((e) => e.charge);
  const deciding = desk.byStatus('waiting-approval').map((e) => e.charge);
  const pending = [...retrying, ...deciding];
  const waiting = [
    `${why}; billing resumes (and the incident ends) once the refund(s) of ${pending.join(', ')} are settled`,
    retrying.length ? `still being retried (Stripe, same key, for up to a day): ${retrying.join(', ')}` : '',
    deciding.length
      ? `waiting for your decision over the refund caps:\n  - ${desk.waitingLines().join('\n  - ')}`
      : '',
  ]
    .filter(Boolean)
    .join('; ');
  // The latest wait (a second one: charges added while billing came back); `waits` counts them.
  const wait = { charges: pending, since: new Date().toISOString(), until: undefined as string | undefined };
  inc.state.checks.resumeWaitsForRefunds = wait;
  const n = (waitsForRefunds.get(inc) ?? 0) + 1;
  waitsForRefunds.set(inc, n);
  inc.decide(waiting);
  await notifyRolesStep(
    inc,
    {
      name: n === 1 ? 'notify-resume-waits' : `notify-resume-waits-${n}`,
      title: 'Tell the approvers: resume waits for refunds',
      summary: 'Tell the approvers: resume waits for refunds still open',
    },
    {
      roles: policy.approvalRoles,
      subject: `[P0-3] ${n === 1 ? 'Approved: billing resumes' : 'Billing is live: the incident ends'} after the pending refunds (${inc.state.incidentId})`,
      text: `${waiting}.\nStill failing: ${inc.state.failing.refunds ?? 'none'}.\nClose the incident (abandon, with the CTO's code) to stop waiting.`,
      messageId: `<${inc.state.incidentId}.resume-waits${n === 1 ? '' : `-${n}`}@accubooks-runbooks>`,
    },
  );
  // Set after the message (a step sets the current step): this is what the details show meanwhile.
  inc.state.currentStep = `Resume billing: waiting for the refund(s) of ${pending.join(', ')} (${[
    retrying.length ? 'retrying' : '',
    deciding.length ? `over the cap, waiting for ${policy.approvalRoles.join(' + ')}` : '',
  ]
    .filter(Boolean)
    .join('; ')})`;
  inc.refresh();
  await condition(() => desk.settled || inc.closedByHuman);
  wait.until = new Date().toISOString();
  inc.refresh();
}
