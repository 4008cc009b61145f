/**
 * The one `approval` signal handler of a workflow (see workflows/approval.ts for the threat model):
 * it queues attempts, checks each code with a local activity (the code never reaches history),
 * spends and revokes codes, caps wrong guesses, and hands the judged attempt to its gate.
 */
import { condition, proxyLocalActivities, setHandler, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { IssuedCode } from '../activities/approvals';
import {
  approvalSignal,
  type ApprovalAttempt,
  type ApprovalGateRecord,
  type CodeStrength,
} from '../definitions/approval';
import { approvalDefaults, type ApprovalPolicy } from '../definitions/policies/approval';
import { failureText } from './incident-failures';

/** What the hub needs of a gate (ApprovalGate in workflows/approval.ts). */
export interface HubGate {
  readonly gateId: string;
  readonly record: ApprovalGateRecord;
  readonly policy: ApprovalPolicy;
  eligible(approver: string): boolean;
  requestReissue(why: string): void;
  attempt(
    a: { approver: string; decision: unknown; reason: string; via: string; at: string },
    refusedBecause: string | undefined,
    secret: IssuedSecret | undefined,
    codeMatched: boolean,
  ): { accepted: boolean };
}

/** Attempts waiting to be checked; a flood past this is counted and dropped unread. */
const MAX_QUEUED_ATTEMPTS = 500;

/** What a gate needs from the workflow it lives in. */
export interface GateHost {
  readonly incidentId: string;
  readonly runbook: string;
  /** Where gate records are shown (the incident's `state.approvals`). */
  readonly gateRecords: ApprovalGateRecord[];
  /** Set on a dry run: its approval messages are marked as a rehearsal (dry-run.ts). */
  readonly rehearsal?: object;
  decide(text: string): void;
  escalate(reason: string, tier: string): Promise<void>;
  /** Shows the wait in the UI (status, current details); absent for gates that do not block the runbook. */
  awaitPerson(what: string, signal: string, example: Record<string, unknown>): void;
  stopAwaitingPerson(): void;
}

/** The check runs on the worker that holds the key; its input (the code) stays out of history. */
const codeCheck = proxyLocalActivities<Activities>({
  startToCloseTimeout: '10 seconds',
  retry: { initialInterval: '1s', maximumInterval: '5s', maximumAttempts: 5 },
});

export interface IssuedSecret {
  codeId: string;
  gate: HubGate;
  approver: string;
  mac: string;
  /** The approval link's long code (same credential, same ID): see activities/approval-links.ts. */
  linkMac?: string;
  strength: CodeStrength;
  expiresAt: string;
  index: number;
  usedAt?: string;
  revokedAt?: string;
}

interface Queued {
  raw: unknown;
  at: string;
  path: string;
}

export const now = () => new Date().toISOString();
export const clip = (v: unknown, n: number) => (typeof v === 'string' ? v.trim().slice(0, n) : '');

/** One `approval` signal handler per workflow; every gate registers here; the code picks the gate. */
export class ApprovalHub {
  private readonly gates: HubGate[] = [];
  private readonly secrets = new Map<string, IssuedSecret>();
  private readonly queue: Queued[] = [];
  private dropped = 0;
  private wrongCodes = 0;
  /** Codes being sent right now: they reach an inbox before their MAC reaches the workflow. */
  issuing = 0;
  /** Past the wrong-code cap: long codes only, from now on. */
  hardened = false;

  /** Register before the workflow's first await. */
  constructor(readonly host: GateHost) {
    setHandler(approvalSignal, (a) => this.enqueue(a, 'signal'), {
      description:
        'Approve or reject with your one-time code: {"approver": "<your id>", "decision": "approve" | "reject", "reason": "<why>", "code": "<code>"}',
    });
  }

  /** Queues an attempt for the checking loop (signals cannot await the local activity themselves). */
  enqueue(raw: unknown, path: string): void {
    if (this.queue.length >= MAX_QUEUED_ATTEMPTS) {
      this.dropped++;
      return;
    }
    this.queue.push({ raw, at: now(), path });
  }

  register(gate: HubGate): void {
    this.gates.push(gate);
  }

  get codeStrength(): CodeStrength {
    return this.hardened ? 'long' : 'short';
  }

  private get maxWrongCodes(): number {
    return Math.min(...this.gates.map((g) => g.policy.maxWrongCodes), approvalDefaults.maxWrongCodes);
  }

  /** Keeps what the workflow may know of an issued code: its ID, MAC and owner. */
  addSecret(gate: HubGate, c: IssuedCode, index: number): void {
    for (const s of this.secrets.values()) {
      if (s.gate === gate && s.approver === c.approver && this.isLive(s)) this.revoke(s);
    }
    this.secrets.set(c.codeId, {
      codeId: c.codeId,
      gate,
      approver: c.approver,
      mac: c.mac,
      linkMac: c.linkMac,
      strength: c.strength,
      expiresAt: c.expiresAt,
      index,
    });
  }

  isLive(s: IssuedSecret): boolean {
    return !s.usedAt && !s.revokedAt && Date.now() <= Date.parse(s.expiresAt);
  }

  hasLiveCode(gate: HubGate, approver: string): boolean {
    return [...this.secrets.values()].some(
      (s) => s.gate === gate && s.approver === approver && this.isLive(s),
    );
  }

  private revoke(s: IssuedSecret): void {
    s.revokedAt = now();
    s.gate.record.codes[s.index].status = 'revoked';
  }

  markExpired(gate: HubGate): void {
    for (const s of this.secrets.values()) {
      if (s.gate === gate && !s.usedAt && !s.revokedAt && Date.now() > Date.parse(s.expiresAt))
        gate.record.codes[s.index].status = 'expired';
    }
  }

  /** The checking loop: runs for the workflow's life, a batch of attempts per local activity. */
  async run(): Promise<void> {
    for (;;) {
      // A code typed the moment it arrives must not be judged before the workflow knows it.
      await condition(() => this.queue.length > 0 && this.issuing === 0);
      const batch = this.queue.splice(0, 50);
      // A link's code matches under the same ID as the typed code: one credential, spent as one.
      const candidates = [...this.secrets.values()].flatMap((s) => [
        { codeId: s.codeId, mac: s.mac },
        ...(s.linkMac ? [{ codeId: s.codeId, mac: s.linkMac }] : []),
      ]);
      let matches: (string | null)[];
      try {
        ({ matches } = await codeCheck.verifyApprovalCodes.executeWithOptions(
          { summary: `Check ${batch.length} approval attempt(s)` },
          [
            {
              workflowId: workflowInfo().workflowId,
              codes: batch.map((b) =>
                b.raw && typeof b.raw === 'object' ? (b.raw as { code?: unknown }).code : undefined,
              ),
              candidates,
            },
          ],
        ));
      } catch (err) {
        // Nothing was checked, so nothing can be accepted; the people are told to send again.
        for (const b of batch)
          this.judge(b, null, `the code could not be checked (${failureText(err)}); send it again`);
        await this.host.escalate(
          `Approval codes cannot be checked: ${failureText(err)}`,
          'CTO (approvals broken)',
        );
        continue;
      }
      batch.forEach((b, i) => this.judge(b, matches[i] ?? null));
      if (this.dropped > 0) {
        this.host.decide(
          `${this.dropped} approval attempt(s) arrived faster than they could be checked and were dropped unread`,
        );
        this.dropped = 0;
      }
      if (!this.hardened && this.wrongCodes >= this.maxWrongCodes) this.harden();
    }
  }

  /** Past the cap: every live short code is revoked and its owner gets a long one at once. */
  private harden(): void {
    this.hardened = true;
    const affected = new Set<HubGate>();
    for (const s of this.secrets.values()) {
      if (s.strength === 'short' && this.isLive(s)) {
        this.revoke(s);
        affected.add(s.gate);
      }
    }
    this.host.decide(
      `${this.wrongCodes} wrong codes: every short code is revoked; approvers get long codes (2^148) from now on`,
    );
    for (const g of affected) g.requestReissue('wrong-code cap reached: short codes replaced by long ones');
  }

  private gateForName(approver: string): HubGate | undefined {
    const pending = this.gates.filter((g) => g.record.status === 'pending');
    return (
      pending.find((g) => g.eligible(approver)) ??
      pending.at(-1) ??
      this.gates.find((g) => g.eligible(approver))
    );
  }

  /** One attempt: spend a live code first, then decide; everything is recorded on one gate. */
  private judge(q: Queued, codeId: string | null, cannotCheck?: string): void {
    const a = (q.raw && typeof q.raw === 'object' ? q.raw : {}) as Partial<
      Record<keyof ApprovalAttempt, unknown>
    >;
    const approver = clip(a.approver, 100).toLowerCase();
    const via = q.path === 'signal' && clip(a.via, 20) === 'cli' ? 'signal (CLI)' : clip(a.via, 30) || q.path;
    const secret = codeId ? this.secrets.get(codeId) : undefined;
    const gate = secret?.gate ?? this.gateForName(approver) ?? this.gates[0];
    if (!gate) {
      this.host.decide(
        `Approval attempt (${via}) by "${approver || '(missing)'}" refused: no approval has been requested`,
      );
      return;
    }
    // Spent on sight: whatever is wrong with the rest, this code can never be used again.
    let spent = false;
    if (secret && this.isLive(secret)) {
      secret.usedAt = q.at;
      spent = true;
    }
    const bad: string[] = [];
    if (!approver) bad.push('approver');
    if (a.decision !== 'approve' && a.decision !== 'reject') bad.push('decision');
    if (!clip(a.reason, 500)) bad.push('reason');
    if (clip(a.code, 200).replace(/[\s-]/g, '').length < 4) bad.push('code');
    // Every code that was checked and matched nothing was a guess, whatever else was wrong.
    if (!cannotCheck && !secret && !bad.includes('code')) this.wrongCodes++;
    let refused: string | undefined;
    if (cannotCheck) refused = cannotCheck;
    else if (bad.length)
      refused = `missing or invalid field(s): ${bad.join(', ')} (send {"approver", "decision": "approve"|"reject", "reason", "code"})`;
    else if (!secret) refused = 'code does not match';
    else if (!spent) {
      if (secret.usedAt) refused = `code already used (at ${secret.usedAt})`;
      else if (secret.revokedAt) refused = `code was revoked at ${secret.revokedAt}`;
      else refused = `code expired at ${secret.expiresAt}`;
    } else if (secret.approver !== approver) {
      refused = `this code was sent to someone else, not to "${approver}"`;
    }
    const outcome = gate.attempt(
      { approver, decision: a.decision, reason: clip(a.reason, 500), via, at: q.at },
      refused,
      secret && spent ? secret : undefined,
      secret !== undefined,
    );
    if (spent && secret) {
      gate.record.codes[secret.index].status = outcome.accepted ? 'used' : 'spent';
      if (!outcome.accepted) gate.requestReissue(`a submission carried ${secret.approver}'s live code`);
    }
  }
}
