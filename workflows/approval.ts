/**
 * Approvals that cannot be forged: P0-3 (resume billing), P0-4 (restart after a data-integrity
 * stop), and abandoning any incident (incident.ts).
 *
 * Threat model: anyone who can open the Temporal UI reads every history and sends any signal with
 * any name in it. So a name proves nothing, and history holds nothing a reader can use:
 *   - when approval is needed, an activity sends each person holding a required role a one-time code
 *     over their own channel; the workflow keeps only the code's keyed MAC (the key is the worker's;
 *     activities/approval-codes.ts), never the code or a plain or salted hash;
 *   - an attempt (`approval` signal: approver, decision, reason, code) is checked by a LOCAL activity,
 *     whose input (the submitted code) is not written to history; the workflow gets back only which
 *     issued code, if any, it was;
 *   - any attempt that carries a live code spends it, whatever else is wrong with it (wrong name,
 *     decision or missing reason), and the code's owner gets a fresh one at once: a code seen in a
 *     signal in history is always dead;
 *   - guessing is capped: after `maxWrongCodes` wrong codes in one incident, every short code
 *     (2^49.5) is revoked and its owner is sent a long one (2^148) at once; long codes are never
 *     revoked by wrong guesses, so a flood locks nobody out;
 *   - every attempt is recorded (never the code), up to MAX_STORED_ATTEMPTS per name and gate; past
 *     that they are counted, so a flood cannot grow the state without bound.
 * One signal handler serves every gate of the workflow (`ApprovalHub`, workflows/approval-hub.ts):
 * the code says which gate. This file is the gate: who must approve, codes sent, reminders, the wait.
 */
import { CancellationScope, condition, sleep, workflowInfo } from '@temporalio/workflow';
import type { IssuedCode } from '../activities/approvals';
import { notifications } from './activity-proxies';
import { failureText } from './incident-failures';
import {
  APPROVAL_SIGNAL_NAME,
  MAX_STORED_ATTEMPTS,
  type ApprovalAttemptRecord,
  type ApprovalGateRecord,
} from '../definitions/approval';
import type { ApprovalPolicy } from '../definitions/policies/approval';
import { ApprovalHub, clip, now, type HubGate, type IssuedSecret } from './approval-hub';

/** One decision that needs people holding roles (e.g. "Resume billing: CEO approval required"). */
export class ApprovalGate implements HubGate {
  readonly record: ApprovalGateRecord;
  private readonly people = new Map<string, { name: string; roles: string[] }>();
  private pendingNotices: string[] = [];
  private reissue = false;
  private readonly stored = new Map<string, number>();
  private shown = false;

  constructor(
    private readonly hub: ApprovalHub,
    readonly gateId: string,
    what: string,
    readonly policy: ApprovalPolicy,
    /** A gate that does not block the runbook (abandon) neither shows as the wait nor stays open on a rejection. */
    private readonly opts: { blocksRunbook: boolean } = { blocksRunbook: true },
  ) {
    this.record = {
      gate: gateId,
      what,
      requiredRoles: [...policy.requiredRoles],
      status: 'not-requested',
      round: 0,
      codes: [],
      attempts: [],
      approvedBy: [],
      rejections: [],
      reminders: [],
      notices: [],
    };
    hub.register(this);
    if (opts.blocksRunbook) this.show();
  }

  private show(): void {
    if (this.shown) return;
    this.shown = true;
    this.hub.host.gateRecords.push(this.record);
  }

  get approved(): boolean {
    return this.record.status === 'approved';
  }

  /** True while a rejection has ended a non-blocking request. */
  get rejected(): boolean {
    return (
      !this.opts.blocksRunbook && this.record.status === 'not-requested' && this.record.rejections.length > 0
    );
  }

  eligible(approver: string): boolean {
    return this.people.get(approver)?.roles.some((r) => this.policy.requiredRoles.includes(r)) ?? false;
  }

  /** Example payload the UI shows while waiting (placeholders, never a code). */
  get example(): Record<string, unknown> {
    return {
      approver: '<your approver id>',
      decision: 'approve',
      reason: '<why>',
      code: '<code you received>',
    };
  }

  requestReissue(why: string): void {
    if (this.record.status !== 'pending') return;
    this.reissue = true;
    this.pendingNotices.push(`New code(s) on the way: ${why}.`);
  }

  /** Records one judged attempt on this gate; accepts it when nothing was wrong. */
  attempt(
    a: { approver: string; decision: unknown; reason: string; via: string; at: string },
    refusedBecause: string | undefined,
    secret: IssuedSecret | undefined,
    /** The code was one this workflow issued (bounded by the codes sent): always stored. */
    codeMatched: boolean,
  ): { accepted: boolean } {
    const n =
      this.record.attempts.length +
      Object.values(this.record.attemptsNotStored ?? {}).reduce((x, y) => x + y, 0) +
      1;
    let refused = refusedBecause;
    if (!refused && this.record.status === 'not-requested') refused = 'no approval has been requested yet';
    if (!refused && this.record.status === 'approved')
      refused = `already approved at ${this.record.decidedAt}`;
    const person = this.people.get(a.approver);
    const roles = person?.roles.filter((r) => this.policy.requiredRoles.includes(r)) ?? [];
    if (!refused && roles.length === 0)
      refused = `"${a.approver}" does not hold ${this.policy.requiredRoles.join(' or ')}`;
    const rec: ApprovalAttemptRecord = {
      n,
      at: a.at,
      via: a.via,
      approver: a.approver || '(missing)',
      decision: clip(a.decision, 20) || '(missing)',
      reason: a.reason || '(missing)',
      accepted: !refused,
    };
    if (refused) {
      rec.refusedBecause = refused;
      if (secret) rec.spentCodeOf = secret.approver;
      this.store(
        rec,
        codeMatched,
        `Refused approval attempt #${n} (${a.via}): approver "${rec.approver}", decision ${rec.decision}: ${refused}.`,
      );
      this.hub.host.decide(`Approval attempt #${n} on ${this.gateId} refused (${a.via}): ${refused}`);
      return { accepted: false };
    }
    this.record.attempts.push(rec);
    const who = { approver: a.approver, roles, at: a.at, reason: a.reason };
    let message: string;
    if (a.decision === 'reject') {
      this.record.rejections.push(who);
      this.record.approvedBy = [];
      if (this.opts.blocksRunbook) {
        this.reissue = true;
        message = `Rejected by ${a.approver} (${roles.join('/')}): ${a.reason}. Still stopped; a later approval can resume.`;
      } else {
        this.record.status = 'not-requested';
        message = `Rejected by ${a.approver} (${roles.join('/')}): ${a.reason}. The request is closed.`;
      }
      this.pendingNotices.push(message);
    } else {
      this.record.approvedBy.push(who);
      const missing = this.policy.requiredRoles.filter(
        (r) => !this.record.approvedBy.some((x) => x.roles.includes(r)),
      );
      if (missing.length === 0) {
        this.record.status = 'approved';
        this.record.decidedAt = a.at;
        message = `Approved by ${this.record.approvedBy.map((x) => `${x.approver} (${x.roles.join('/')})`).join(', ')}: ${a.reason}`;
      } else {
        message = `Approval by ${a.approver} (${roles.join('/')}) recorded; still needed: ${missing.join(', ')}`;
      }
    }
    this.hub.host.decide(`Approval attempt #${n} on ${this.gateId} accepted (${a.via}): ${message}`);
    return { accepted: true };
  }

  /**
   * Stores a refusal one by one up to the cap per name (guesses: a code this workflow never issued);
   * past it only counts it (no notice either). Attempts with a real code are always stored.
   */
  private store(rec: ApprovalAttemptRecord, codeMatched: boolean, notice: string): void {
    const k = rec.approver;
    const seen = this.stored.get(k) ?? 0;
    if (codeMatched) {
      this.record.attempts.push(rec);
      this.pendingNotices.push(notice);
    } else if (seen < MAX_STORED_ATTEMPTS) {
      this.stored.set(k, seen + 1);
      this.record.attempts.push(rec);
      this.pendingNotices.push(notice);
      if (seen + 1 === MAX_STORED_ATTEMPTS)
        this.pendingNotices.push(`Further attempts in the name "${k}" are counted, not stored one by one.`);
    } else {
      (this.record.attemptsNotStored ??= {})[k] = (this.record.attemptsNotStored[k] ?? 0) + 1;
    }
  }

  /** Sends fresh codes to everyone eligible without a live one (everyone on the first round). */
  private async issueCodes(context: string): Promise<void> {
    this.hub.markExpired(this);
    const first = this.record.round === 0;
    const only = first ? undefined : [...this.people.keys()].filter((p) => !this.hub.hasLiveCode(this, p));
    if (only && only.length === 0 && this.people.size > 0) return;
    const round = this.record.round + 1;
    const expiresAt = new Date(Date.now() + this.policy.codeTtlMs).toISOString();
    const strength = this.hub.codeStrength;
    let issued: IssuedCode[];
    this.hub.issuing++;
    try {
      ({ issued } = await notifications.issueApprovalCodes.executeWithOptions(
        {
          summary: `Send one-time approval codes to ${this.policy.requiredRoles.join(' + ')} (${this.gateId})`,
        },
        [
          {
            incidentId: this.hub.host.incidentId,
            workflowId: workflowInfo().workflowId,
            runbook: this.hub.host.runbook,
            gateId: this.gateId,
            what: this.record.what,
            roles: this.policy.requiredRoles,
            only: only && only.length ? only : undefined,
            expiresAt,
            signalName: APPROVAL_SIGNAL_NAME,
            round,
            strength,
            context,
            ...(this.hub.host.rehearsal ? { rehearsal: true } : {}),
          },
        ],
      ));
    } catch (err) {
      this.record.problem = `codes could not be sent: ${failureText(err)}`;
      this.hub.host.decide(`Approval codes for ${this.gateId} could not be sent: ${failureText(err)}`);
      await this.hub.host.escalate(
        `Approval needed (${this.record.what}) but no code could be sent: ${failureText(err)}`,
        'incident commander (approval blocked)',
      );
      return;
    } finally {
      this.hub.issuing--;
    }
    this.record.round = round;
    this.record.problem = undefined;
    const at = now();
    for (const c of issued) {
      this.people.set(c.approver, { name: c.name, roles: c.roles });
      const index =
        this.record.codes.push({
          approver: c.approver,
          name: c.name,
          roles: c.roles,
          round,
          strength: c.strength,
          issuedAt: at,
          expiresAt: c.expiresAt,
          status: 'live',
          delivered: c.delivered,
          failed: c.failed,
        }) - 1;
      this.hub.addSecret(this, c, index);
    }
    const unreachable = issued.filter((c) => c.delivered.length === 0).map((c) => c.approver);
    if (unreachable.length) this.record.problem = `no channel reached ${unreachable.join(', ')}`;
  }

  private async notifyApprovers(subject: string, text: string, key: string) {
    try {
      const d = await notifications.notifyRoles.executeWithOptions({ summary: subject }, [
        {
          roles: this.policy.requiredRoles,
          subject: `[${this.hub.host.runbook}] ${subject}`,
          text: `${text}\n\nIncident ${this.hub.host.incidentId}, workflow ${workflowInfo().workflowId}.`,
          messageId: `<${this.hub.host.incidentId}.${this.gateId}.${key}@accubooks-runbooks>`,
          ...(this.hub.host.rehearsal ? { rehearsal: true } : {}),
        },
      ]);
      return { delivered: d.delivered, failed: d.failed.map((f) => `${f.channel}: ${f.error}`) };
    } catch (err) {
      return { delivered: [], failed: [failureText(err)] };
    }
  }

  /**
   * Requests the approval and waits for it, however long it takes: reminders (with fresh codes when
   * old ones expired or were used) every `reminderEveryMs`; refusals and rejections notify the
   * approvers as they happen. A non-blocking gate also returns when a rejection closes the request.
   */
  async waitForApproval(about: string | (() => string)): Promise<ApprovalGateRecord> {
    // A function: the message is written when sent (P0-3 lists the charges known by then).
    const context = () => (typeof about === 'function' ? about() : about);
    this.show();
    this.record.status = 'pending';
    this.record.requestedAt = now();
    this.hub.host.decide(
      `Approval requested from ${this.policy.requiredRoles.join(' + ')}: ${this.record.what}`,
    );
    await this.issueCodes(context());
    if (this.opts.blocksRunbook) {
      this.hub.host.awaitPerson(
        `${this.policy.requiredRoles.join(' + ')} approval: ${this.record.what}`,
        APPROVAL_SIGNAL_NAME,
        this.example,
      );
    }
    let nextReminder = Date.now() + this.policy.reminderEveryMs;
    const open = () => this.record.status === 'pending';
    // One timer per reminder deadline, never cancelled (it fires unheeded once the gate is decided).
    // A timer started and cancelled in one workflow task never reaches history; the code check (a
    // local activity) that decides the gate can resolve inside that task on replay but not in the
    // original run, so a cancelled reminder timer made the history unreplayable (issue 17).
    let reminderAt = 0;
    let reminderDue: Promise<void> = Promise.resolve();
    for (;;) {
      if (reminderAt !== nextReminder) {
        reminderAt = nextReminder;
        reminderDue = sleep(Math.max(1, nextReminder - Date.now())).then(
          () => undefined,
          () => undefined,
        );
      }
      const changes = new CancellationScope();
      const changed = changes.run(() =>
        condition(() => !open() || this.pendingNotices.length > 0 || this.reissue),
      );
      await Promise.race([reminderDue, changed.catch(() => undefined)]);
      changes.cancel();
      if (this.pendingNotices.length > 0) {
        const batch = this.pendingNotices.splice(0);
        const n = this.record.notices.length + 1;
        const about = batch.join('\n');
        const d = await this.notifyApprovers(
          `Approval attempt(s) on ${this.record.what}`,
          `${about}\n\n${this.opts.blocksRunbook ? 'The system stays stopped until a valid approval arrives.' : ''}`,
          `notice-${n}`,
        );
        this.record.notices.push({ at: now(), about, ...d });
      }
      if (!open()) break;
      if (this.reissue) {
        this.reissue = false;
        await this.issueCodes(`${context()}\n(A new code: your previous one was used, spent or revoked.)`);
      }
      if (open() && Date.now() >= nextReminder) {
        nextReminder = Date.now() + this.policy.reminderEveryMs;
        await this.issueCodes(
          `${context()}\n(Reminder: your previous code expired, was used or was revoked.)`,
        );
        const k = this.record.reminders.length + 1;
        const waited = Math.round((Date.now() - Date.parse(this.record.requestedAt)) / 60_000);
        const live = this.record.codes
          .filter((c) => c.status === 'live')
          .map((c) => `${c.approver} until ${c.expiresAt}`);
        const d = await this.notifyApprovers(
          `Reminder ${k}: approval still needed: ${this.record.what}`,
          `Waiting ${waited} minutes for ${this.policy.requiredRoles.join(' + ')}. Live codes: ${live.join(', ') || 'none'}.\n${context()}`,
          `reminder-${k}`,
        );
        this.record.reminders.push({ at: now(), ...d });
        this.hub.host.decide(`Reminder ${k} sent: approval pending for ${waited} minutes`);
      }
    }
    if (this.opts.blocksRunbook) this.hub.host.stopAwaitingPerson();
    return this.record;
  }
}
