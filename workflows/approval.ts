/**
 * Approvals that cannot be forged, shared by P0-3 (resume billing) and P0-4 (restart after a
 * data-integrity stop).
 *
 * Anyone who can open the Temporal UI can send a signal that claims to be the CEO, so a name proves
 * nothing. When approval is needed, an activity sends every person holding a required role a
 * one-time code over their own channel and gives the workflow only a salted hash and the expiry.
 * An approval carries approver, decision (approve | reject), reason and code, and arrives either
 *   - as the signal `approval` (Temporal UI → Send a Signal, one JSON object), or
 *   - as the update `submitApproval` (the CLI), whose validator refuses a bad approval before it
 *     enters history. The validator cannot record anything, so the client (client/approvals.ts)
 *     re-sends a refused attempt as the `approval` signal: the workflow checks it again with the
 *     same logic, refuses it for the same reason and records it. Nothing is dropped silently.
 * Both reach `evaluate`: accepted only if the approver holds a required role and the code matches
 * (hashed here with the salt: pure-JS SHA-256, workflows have no node:crypto), is unexpired and
 * unused. Every attempt is recorded (never the code); a refusal notifies the approvers; a
 * rejection keeps the system stopped and a later approval can still resume; too many wrong codes
 * for one person revoke their code (a fresh one comes with the next reminder). While waiting,
 * reminders run on a durable timer and the incident shows exactly what to paste.
 *
 * A submitted code is spent on acceptance (and a refused one was worthless), so its presence in
 * the signal or update payload in history grants nothing.
 */
import { condition, defineSignal, defineUpdate, setHandler, workflowInfo } from '@temporalio/workflow';
import { notifications } from './activity-proxies';
import { failureText, Incident } from './incident';
import { approvalCodeHash } from './sha256';
import type { IssuedCode } from '../activities/approvals';

export type ApprovalDecision = 'approve' | 'reject';

/** What a person sends, from the UI (signal) or the CLI (update). `via` is a label only. */
export interface ApprovalAttempt {
  /** The approver's id in the directory, e.g. "alice". */
  approver: string;
  decision: ApprovalDecision;
  reason: string;
  /** The one-time code they received, e.g. "ABCDE-FGHJK" (case, spaces and dashes ignored). */
  code: string;
  via?: string;
}

export type ApprovalResult =
  | {
      accepted: true;
      gate: string;
      approver: string;
      decision: ApprovalDecision;
      /** `approved` once every required role has approved; `pending` after a rejection or a partial approval. */
      gateStatus: 'approved' | 'pending';
      attempt: number;
      message: string;
    }
  | { accepted: false; gate: string; attempt: number; refusedBecause: string };

export const APPROVAL_SIGNAL_NAME = 'approval';
export const APPROVAL_UPDATE_NAME = 'submitApproval';
/** The UI path: one JSON object {approver, decision, reason, code}. */
export const approvalSignal = defineSignal<[ApprovalAttempt]>(APPROVAL_SIGNAL_NAME);
/** The CLI path: the validator refuses a bad approval before history; the handler answers. */
export const approvalUpdate = defineUpdate<ApprovalResult, [ApprovalAttempt]>(APPROVAL_UPDATE_NAME);

export interface ApprovalAttemptRecord {
  n: number;
  at: string;
  via: string;
  approver: string;
  decision: string;
  reason: string;
  accepted: boolean;
  refusedBecause?: string;
}

export interface ApprovalCodeRecord {
  approver: string;
  name: string;
  roles: string[];
  round: number;
  issuedAt: string;
  expiresAt: string;
  status: 'live' | 'used' | 'expired' | 'revoked';
  delivered: string[];
  failed: { channel: string; error: string }[];
}

export interface ApprovalGateRecord {
  gate: string;
  what: string;
  requiredRoles: string[];
  status: 'not-requested' | 'pending' | 'approved';
  requestedAt?: string;
  decidedAt?: string;
  round: number;
  codes: ApprovalCodeRecord[];
  attempts: ApprovalAttemptRecord[];
  /** Accepted approvals that count now (a rejection clears them). */
  approvedBy: { approver: string; roles: string[]; at: string; reason: string }[];
  rejections: { approver: string; roles: string[]; at: string; reason: string }[];
  reminders: { at: string; delivered: string[]; failed: string[] }[];
  notices: { at: string; about: string; delivered: string[]; failed: string[] }[];
  /** Why codes could not be sent (no approver for a role, every channel down...). */
  problem?: string;
}

export interface ApprovalPolicy {
  /** Every one of these roles must approve (the seed: CEO; e.g. ["CEO", "CTO"] for two people). */
  requiredRoles: string[];
  codeTtlMs: number;
  reminderEveryMs: number;
  /** Wrong codes one person may send before their code is revoked. */
  maxWrongCodes: number;
}

export const approvalDefaults: ApprovalPolicy = {
  requiredRoles: ['CEO'],
  codeTtlMs: 60 * 60_000,
  reminderEveryMs: 15 * 60_000,
  maxWrongCodes: 5,
};

interface SecretEntry {
  approver: string;
  salt: string;
  hash: string;
  expiresAt: string;
  index: number;
  usedAt?: string;
  revokedAt?: string;
}

type Verdict = { ok: true; entry: SecretEntry; roles: string[] } | { ok: false; reason: string };

const now = () => new Date().toISOString();
const clip = (v: unknown, n: number) => (typeof v === 'string' ? v.trim().slice(0, n) : '');

export class ApprovalGate {
  readonly record: ApprovalGateRecord;
  private readonly secrets: SecretEntry[] = [];
  private readonly people = new Map<string, { name: string; roles: string[] }>();
  private readonly wrongCodes = new Map<string, number>();
  private pendingNotices: string[] = [];
  private reissue = false;
  private ignoredHumanClose = false;

  /** Register before the workflow's first await (handlers must exist when the first signal comes). */
  constructor(
    private readonly inc: Incident,
    readonly gateId: string,
    what: string,
    private readonly policy: ApprovalPolicy,
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
    inc.state.approvals = [...(inc.state.approvals ?? []), this.record];

    setHandler(
      approvalSignal,
      (a) => {
        this.attempt(a, 'signal');
      },
      {
        description:
          'Approve or reject with your one-time code: {"approver": "<your id>", "decision": "approve" | "reject", "reason": "<why>", "code": "<code>"}',
      },
    );
    setHandler(approvalUpdate, (a) => this.attempt(a, 'update'), {
      validator: (a) => {
        const v = this.evaluate(a, false);
        if (!v.ok) throw new Error(`approval refused: ${v.reason}`);
      },
      description: 'The CLI path of the approval: refused before history when invalid',
    });
  }

  get approved(): boolean {
    return this.record.status === 'approved';
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

  /** Checks an attempt; with `commit`, counts wrong codes (and may revoke). Never mutates otherwise. */
  private evaluate(raw: unknown, commit: boolean): Verdict {
    const a = (raw && typeof raw === 'object' ? raw : {}) as Partial<Record<keyof ApprovalAttempt, unknown>>;
    const bad: string[] = [];
    if (!clip(a.approver, 100)) bad.push('approver');
    if (a.decision !== 'approve' && a.decision !== 'reject') bad.push('decision');
    if (!clip(a.reason, 500)) bad.push('reason');
    if (clip(a.code, 64).length < 4) bad.push('code');
    if (bad.length) {
      return {
        ok: false,
        reason: `missing or invalid field(s): ${bad.join(', ')} (send {"approver", "decision": "approve"|"reject", "reason", "code"})`,
      };
    }
    if (this.record.status === 'not-requested')
      return { ok: false, reason: 'no approval has been requested yet' };
    if (this.record.status === 'approved')
      return { ok: false, reason: `already approved at ${this.record.decidedAt}` };
    const approver = clip(a.approver, 100).toLowerCase();
    const person = this.people.get(approver);
    const roles = person?.roles.filter((r) => this.policy.requiredRoles.includes(r)) ?? [];
    if (!person || roles.length === 0) {
      return { ok: false, reason: `"${approver}" does not hold ${this.policy.requiredRoles.join(' or ')}` };
    }
    const code = a.code as string;
    const entry = this.secrets.find(
      (s) => s.approver === approver && approvalCodeHash(s.salt, this.gateId, approver, code) === s.hash,
    );
    if (!entry) {
      const wrong = (this.wrongCodes.get(approver) ?? 0) + 1;
      if (!commit) return { ok: false, reason: 'code does not match' };
      this.wrongCodes.set(approver, wrong);
      if (wrong >= this.policy.maxWrongCodes) {
        for (const s of this.secrets) {
          if (s.approver === approver && !s.usedAt && !s.revokedAt) this.revoke(s);
        }
        return {
          ok: false,
          reason: `code does not match (${wrong} wrong codes for ${approver}: their code is revoked; a new one comes with the next reminder)`,
        };
      }
      return { ok: false, reason: 'code does not match' };
    }
    if (entry.usedAt) return { ok: false, reason: `code already used (at ${entry.usedAt})` };
    if (Date.now() > Date.parse(entry.expiresAt))
      return { ok: false, reason: `code expired at ${entry.expiresAt}` };
    if (entry.revokedAt) return { ok: false, reason: `code was revoked at ${entry.revokedAt}` };
    return { ok: true, entry, roles };
  }

  private revoke(s: SecretEntry): void {
    s.revokedAt = now();
    this.record.codes[s.index].status = 'revoked';
  }

  private attempt(raw: ApprovalAttempt, path: 'signal' | 'update'): ApprovalResult {
    const verdict = this.evaluate(raw, true);
    const a = (raw && typeof raw === 'object' ? raw : {}) as Partial<ApprovalAttempt>;
    const n = this.record.attempts.length + 1;
    const via = path === 'signal' && clip(a.via, 20) === 'cli' ? 'signal (CLI)' : path;
    const rec: ApprovalAttemptRecord = {
      n,
      at: now(),
      via,
      approver: clip(a.approver, 100) || '(missing)',
      decision: clip(a.decision, 20) || '(missing)',
      reason: clip(a.reason, 500) || '(missing)',
      accepted: verdict.ok,
    };
    if (!verdict.ok) {
      rec.refusedBecause = verdict.reason;
      this.record.attempts.push(rec);
      this.pendingNotices.push(
        `Refused approval attempt #${n} (${via}): approver "${rec.approver}", decision ${rec.decision}: ${verdict.reason}.`,
      );
      this.inc.decide(`Approval attempt #${n} refused (${via}): ${verdict.reason}`);
      return { accepted: false, gate: this.gateId, attempt: n, refusedBecause: verdict.reason };
    }
    this.record.attempts.push(rec);
    const { entry, roles } = verdict;
    entry.usedAt = rec.at;
    this.record.codes[entry.index].status = 'used';
    this.wrongCodes.delete(entry.approver);
    const who = { approver: entry.approver, roles, at: rec.at, reason: rec.reason };
    let message: string;
    if (raw.decision === 'reject') {
      this.record.rejections.push(who);
      this.record.approvedBy = [];
      this.reissue = true;
      message = `Rejected by ${entry.approver} (${roles.join('/')}): ${rec.reason}. Still stopped; a later approval can resume.`;
      this.pendingNotices.push(message);
    } else {
      this.record.approvedBy.push(who);
      const missing = this.policy.requiredRoles.filter(
        (r) => !this.record.approvedBy.some((x) => x.roles.includes(r)),
      );
      if (missing.length === 0) {
        this.record.status = 'approved';
        this.record.decidedAt = rec.at;
        message = `Approved by ${this.record.approvedBy.map((x) => `${x.approver} (${x.roles.join('/')})`).join(', ')}: ${rec.reason}`;
      } else {
        message = `Approval by ${entry.approver} (${roles.join('/')}) recorded; still needed: ${missing.join(', ')}`;
      }
    }
    this.inc.decide(`Approval attempt #${n} accepted (${via}): ${message}`);
    return {
      accepted: true,
      gate: this.gateId,
      approver: entry.approver,
      decision: raw.decision,
      gateStatus: this.approved ? 'approved' : 'pending',
      attempt: n,
      message,
    };
  }

  private hasLiveCode(approver: string): boolean {
    return this.secrets.some(
      (s) => s.approver === approver && !s.usedAt && !s.revokedAt && Date.now() <= Date.parse(s.expiresAt),
    );
  }

  private markExpired(): void {
    for (const s of this.secrets) {
      if (!s.usedAt && !s.revokedAt && Date.now() > Date.parse(s.expiresAt))
        this.record.codes[s.index].status = 'expired';
    }
  }

  /** Sends fresh codes to everyone eligible without a live one (everyone on the first round). */
  private async issueCodes(context: string): Promise<void> {
    this.markExpired();
    const first = this.record.round === 0;
    const only = first ? undefined : [...this.people.keys()].filter((p) => !this.hasLiveCode(p));
    if (only && only.length === 0 && this.people.size > 0) return;
    const round = this.record.round + 1;
    const expiresAt = new Date(Date.now() + this.policy.codeTtlMs).toISOString();
    let issued: IssuedCode[];
    try {
      ({ issued } = await notifications.issueApprovalCodes.executeWithOptions(
        {
          summary: `Send one-time approval codes to ${this.policy.requiredRoles.join(' + ')} (${this.gateId})`,
        },
        [
          {
            incidentId: this.inc.state.incidentId,
            workflowId: workflowInfo().workflowId,
            runbook: this.inc.state.runbook,
            gateId: this.gateId,
            what: this.record.what,
            roles: this.policy.requiredRoles,
            only: only && only.length ? only : undefined,
            expiresAt,
            signalName: APPROVAL_SIGNAL_NAME,
            round,
            context,
          },
        ],
      ));
    } catch (err) {
      this.record.problem = `codes could not be sent: ${failureText(err)}`;
      this.inc.decide(`Approval codes for ${this.gateId} could not be sent: ${failureText(err)}`);
      await this.inc.escalate(
        `Approval needed (${this.record.what}) but no code could be sent: ${failureText(err)}`,
        'incident commander (approval blocked)',
      );
      return;
    }
    this.record.round = round;
    this.record.problem = undefined;
    const at = now();
    for (const c of issued) {
      this.people.set(c.approver, { name: c.name, roles: c.roles });
      this.wrongCodes.delete(c.approver);
      for (const s of this.secrets)
        if (s.approver === c.approver && !s.usedAt && !s.revokedAt) this.revoke(s);
      const index =
        this.record.codes.push({
          approver: c.approver,
          name: c.name,
          roles: c.roles,
          round,
          issuedAt: at,
          expiresAt: c.expiresAt,
          status: 'live',
          delivered: c.delivered,
          failed: c.failed,
        }) - 1;
      this.secrets.push({ approver: c.approver, salt: c.salt, hash: c.hash, expiresAt: c.expiresAt, index });
    }
    const unreachable = issued.filter((c) => c.delivered.length === 0).map((c) => c.approver);
    if (unreachable.length) this.record.problem = `no channel reached ${unreachable.join(', ')}`;
  }

  private async notifyApprovers(subject: string, text: string, key: string) {
    try {
      const d = await notifications.notifyRoles.executeWithOptions({ summary: subject }, [
        {
          roles: this.policy.requiredRoles,
          subject: `[${this.inc.state.runbook}] ${subject}`,
          text: `${text}\n\nIncident ${this.inc.state.incidentId}, workflow ${workflowInfo().workflowId}.`,
          messageId: `<${this.inc.state.incidentId}.${this.gateId}.${key}@accubooks-runbooks>`,
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
   * approvers as they happen.
   */
  /** Set by a runbook that ends the incident when a person resolves or abandons it during the wait. */
  humanCloseEndsIncident = false;

  async waitForApproval(context: string): Promise<ApprovalGateRecord> {
    this.record.status = 'pending';
    this.record.requestedAt = now();
    this.inc.decide(`Approval requested from ${this.policy.requiredRoles.join(' + ')}: ${this.record.what}`);
    await this.issueCodes(context);
    this.inc.awaitPerson(
      `${this.policy.requiredRoles.join(' + ')} approval: ${this.record.what}`,
      APPROVAL_SIGNAL_NAME,
      this.example,
    );
    let nextReminder = Date.now() + this.policy.reminderEveryMs;
    while (!this.approved) {
      await condition(
        () =>
          this.approved ||
          this.pendingNotices.length > 0 ||
          this.reissue ||
          this.inc.closedByHuman !== this.ignoredHumanClose,
        Math.max(1, nextReminder - Date.now()),
      );
      if (this.inc.closedByHuman && !this.ignoredHumanClose) {
        this.ignoredHumanClose = true;
        // Runbooks that end on a person's close (the system stays stopped) say so themselves.
        if (!this.humanCloseEndsIncident) {
          this.inc.decide(
            'A resolve/abandon signal does not end this wait: only an accepted approval can (the system stays stopped)',
          );
        }
      }
      if (this.pendingNotices.length > 0) {
        const batch = this.pendingNotices.splice(0);
        const n = this.record.notices.length + 1;
        const about = batch.join('\n');
        const d = await this.notifyApprovers(
          `Approval attempt(s) on ${this.record.what}`,
          `${about}\n\nThe system stays stopped until a valid approval arrives.`,
          `notice-${n}`,
        );
        this.record.notices.push({ at: now(), about, ...d });
      }
      if (this.reissue && !this.approved) {
        this.reissue = false;
        await this.issueCodes(`${context}\n(New code after a rejection.)`);
      }
      if (!this.approved && Date.now() >= nextReminder) {
        nextReminder = Date.now() + this.policy.reminderEveryMs;
        await this.issueCodes(`${context}\n(Reminder: your previous code expired, was used or was revoked.)`);
        const k = this.record.reminders.length + 1;
        const waited = Math.round((Date.now() - Date.parse(this.record.requestedAt)) / 60_000);
        const live = this.record.codes
          .filter((c) => c.status === 'live')
          .map((c) => `${c.approver} until ${c.expiresAt}`);
        const d = await this.notifyApprovers(
          `Reminder ${k}: approval still needed: ${this.record.what}`,
          `Waiting ${waited} minutes for ${this.policy.requiredRoles.join(' + ')}. Live codes: ${live.join(', ') || 'none'}.\n${context}`,
          `reminder-${k}`,
        );
        this.record.reminders.push({ at: now(), ...d });
        this.inc.decide(`Reminder ${k} sent: approval pending for ${waited} minutes`);
      }
    }
    this.inc.stopAwaitingPerson();
    return this.record;
  }
}
