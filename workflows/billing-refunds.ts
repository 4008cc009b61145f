/**
 * P0-3 step 2 ("Issue full refund via Stripe") and step 4 ("Document"), for every charge the
 * incident hears of: the trigger's, and any added while it runs. Each charge is checked (ID format,
 * duplicates), its refundable amount read from Stripe, and then either refunded at once (within the
 * worker's refund caps, refund-caps.ts) or held for an approval gate `refund-over-cap` on the
 * incident's ApprovalHub, decided by the roles that resume billing: approve → refunded, reject →
 * recorded, not refunded. Every refund has its own idempotency key `<incident>/refund/<charge>`.
 * A refund that fails its quick attempts keeps being retried in the background (same key).
 */
import { condition } from '@temporalio/workflow';
import type { RefundRecord } from '../activities/stripe';
import type { RefundCaps } from '../definitions/charges';
import { checks } from './activity-proxies';
import { ApprovalGate } from './approval';
import { type ApprovalPolicy } from '../definitions/policies/approval';
import { failureText, type Incident, withSummary } from './incident';
import { describeCaps, money, overRefundCap, type RefundCapUse } from './refund-caps';
import { notifyRolesStep } from './role-notice';
import {
  describeRefund,
  documentRefund,
  readChargeAmount,
  refundCharge,
  type RefundStepOptions,
} from './billing-refund-steps';
import {
  CHARGE_ID_PATTERN,
  MAX_CHARGES_PER_INCIDENT,
  MAX_STORED_CHARGE_REQUESTS,
  REFUND_OVER_CAP_GATE,
  type AddCharges,
  type ChargeEntry,
  type ChargeRequestRecord,
  type ChargesAdded,
  type ChargeStatus,
} from '../definitions/charges';

export interface RefundDeskOptions extends RefundStepOptions {
  /** Who is told when charges join a running incident (the runbook's "Notify CEO + CTO"). */
  notifyRoles: string[];
  /** The resume-billing gate's policy: the same roles decide refunds over a cap. */
  approvalPolicy: ApprovalPolicy;
}

const UNSETTLED: ChargeStatus[] = ['checking', 'refunding', 'retrying', 'waiting-approval'];

export class RefundDesk {
  readonly entries: ChargeEntry[] = [];
  readonly refunds: RefundRecord[] = [];
  readonly documents: string[] = [];
  /** Permissions each refund document was found with on disk (0600 in a 0700 directory). */
  readonly documentModes: Record<string, { mode: string; dirMode: string }> = {};
  private readonly queue: ChargeEntry[] = [];
  private readonly overCap: ChargeEntry[] = [];
  private readonly documented = new Set<string>();
  private caps?: RefundCaps;
  private used: RefundCapUse = { count: 0, total: 0 };
  private busy = false;
  private gateRounds = 0;
  /** Charges refused for the per-incident limit of MAX_CHARGES_PER_INCIDENT, counted only. */
  private refusedForLimit = 0;
  /** Failures of first attempts not yet escalated (the runbook pages them in one message). */
  readonly newFailures: string[] = [];

  constructor(
    private readonly inc: Incident,
    private readonly opts: RefundDeskOptions,
  ) {
    inc.state.checks.refunds = [];
    inc.state.checks.refundDocuments = this.documents;
    inc.state.checks.refundDocumentModes = this.documentModes;
  }

  readonly requests: ChargeRequestRecord[] = [];
  private requestsNotStored = 0;
  /** Charges that joined after the start, waiting to be announced once their first attempt is done. */
  private readonly announce: { request: ChargeRequestRecord; charges: string[] }[] = [];

  /**
   * A request to add charges while the incident runs (signal or alert): checked field by field,
   * recorded (who, via, what was added, duplicates, what is not a charge ID), then queued.
   */
  request(raw: unknown, path: string): ChargeRequestRecord {
    const r = (raw && typeof raw === 'object' && !Array.isArray(raw) ? raw : {}) as Partial<
      Record<keyof AddCharges, unknown>
    >;
    const text = (v: unknown, n: number) => (typeof v === 'string' ? v.trim().slice(0, n) : '');
    const via = path === 'signal' && text(r.via, 20) === 'cli' ? 'signal (CLI)' : path;
    const rec: ChargeRequestRecord = {
      requestId: text(r.requestId, 80) || undefined,
      at: new Date().toISOString(),
      via,
      by: text(r.by, 100) || '(missing)',
      reason: text(r.reason, 500) || undefined,
      added: [],
      duplicates: [],
      invalid: [],
    };
    if (!Array.isArray(r.charges) || r.charges.length === 0)
      rec.refusedBecause = 'expected {"charges": ["ch_…", ...], "by": "<who>", "reason": "<why>"}';
    else if (r.charges.length > MAX_CHARGES_PER_INCIDENT)
      rec.refusedBecause = `at most ${MAX_CHARGES_PER_INCIDENT} charges in one request (got ${r.charges.length})`;
    else if (!text(r.by, 100)) rec.refusedBecause = 'missing "by" (who reports these charges)';
    else if (this.inc.closed) rec.refusedBecause = 'the incident is closing; raise a new one';
    if (!rec.refusedBecause) {
      Object.assign(rec, this.add(r.charges as unknown[], via, rec.by));
      if (rec.added.length) this.announce.push({ request: rec, charges: [...rec.added] });
    }
    // A flood of requests cannot grow the state without bound: past the cap they are only counted
    // (the charges they add are still bounded by MAX_CHARGES_PER_INCIDENT and shown per charge).
    const stored = this.requests.length < MAX_STORED_CHARGE_REQUESTS;
    if (stored) this.requests.push(rec);
    else this.requestsNotStored++;
    this.inc.state.checks.chargeRequests = {
      summary: `${this.requests.length + this.requestsNotStored} request(s) to add charges`,
      list: this.requests,
      notStored: this.requestsNotStored || undefined,
    };
    if (stored || rec.added.length)
      this.inc.decide(
        rec.refusedBecause
          ? `Request to add charges (${via}) by ${rec.by} refused: ${rec.refusedBecause}`
          : `Charges from ${rec.by} (${via}) joined the incident: ${rec.added.join(', ') || 'none new'}${rec.duplicates.length ? `; already known: ${rec.duplicates.join(', ')}` : ''}${rec.invalid.length ? `; NOT charge IDs, ignored: ${rec.invalid.join(', ')}` : ''}`,
      );
    return rec;
  }

  /** Checks, de-duplicates and queues charges (synchronous: a signal handler may call it). */
  add(charges: readonly unknown[], source: string, addedBy: string): ChargesAdded {
    const out: ChargesAdded = { added: [], duplicates: [], invalid: [] };
    for (const raw of charges) {
      const charge = typeof raw === 'string' ? raw.trim() : '';
      if (!CHARGE_ID_PATTERN.test(charge)) {
        out.invalid.push(typeof raw === 'string' ? raw.slice(0, 60) : JSON.stringify(raw)?.slice(0, 60));
        continue;
      }
      if (this.entries.some((e) => e.charge === charge) || out.added.includes(charge)) {
        out.duplicates.push(charge);
        continue;
      }
      if (this.entries.length >= MAX_CHARGES_PER_INCIDENT) {
        this.refusedForLimit++;
        out.invalid.push(`${charge} (over ${MAX_CHARGES_PER_INCIDENT} charges in one incident)`);
        continue;
      }
      const entry: ChargeEntry = { charge, source, addedBy: addedBy.slice(0, 100), status: 'checking' };
      this.entries.push(entry);
      this.queue.push(entry);
      out.added.push(charge);
    }
    this.show();
    return out;
  }

  /** True when nothing is being refunded, retried or waiting for a decision. */
  get settled(): boolean {
    return this.queue.length === 0 && !this.busy && !this.entries.some((e) => UNSETTLED.includes(e.status));
  }

  /** True when every queued charge had its first attempt (refunded, failed once, or waiting). */
  get firstPassDone(): boolean {
    return this.queue.length === 0 && !this.busy;
  }

  byStatus(...status: ChargeStatus[]): ChargeEntry[] {
    return this.entries.filter((e) => status.includes(e.status));
  }

  /** The refunds waiting for an approval, one line each: the amount against the cap. */
  waitingLines(): string[] {
    return this.byStatus('waiting-approval').map(
      (e) => `${e.charge}: ${money(e.amount ?? 0, e.currency ?? '')}, waits for approval: ${e.overCap}`,
    );
  }

  /** The lines of the outcome and approval messages about money. */
  summaryLines(): string[] {
    const refunded = this.refunds.map(
      (r) =>
        `${r.requested} → ${r.refundId} (${money(r.amount, r.currency)}${r.alreadyRefunded ? ', refunded before' : ''})`,
    );
    const failed = this.byStatus('failed', 'retrying').map((e) => `${e.charge}: ${e.note ?? 'failed'}`);
    const rejected = this.byStatus('rejected').map((e) => `${e.charge} (${e.note ?? 'rejected'})`);
    const waiting = this.waitingLines();
    return [
      refunded.length ? `Refunded: ${refunded.join('; ')}.` : 'No refund issued yet.',
      waiting.length
        ? `Refunds WAITING for ${this.opts.approvalPolicy.requiredRoles.join(' + ')} approval (over the refund caps: ${this.caps ? describeCaps(this.caps) : 'worker configuration'}):\n  - ${waiting.join('\n  - ')}`
        : '',
      failed.length ? `Refunds FAILED, need a person: ${failed.join('; ')}.` : '',
      rejected.length ? `Not refunded (approval rejected): ${rejected.join('; ')}.` : '',
      this.invalidNote(),
    ].filter(Boolean);
  }

  private invalidNote(): string {
    return this.refusedForLimit
      ? `${this.refusedForLimit} charge(s) refused: over ${MAX_CHARGES_PER_INCIDENT} charges in one incident.`
      : '';
  }

  /** Mirrors the desk into the state (and so the current details). */
  private show(): void {
    const s = this.inc.state.checks;
    s.charges = {
      summary: this.entries.map((e) => `${e.charge} ${e.status}`).join(', ') || 'none',
      list: this.entries,
    };
    s.refunds = this.refunds.map((r) => ({
      reported: r.requested,
      charge: r.charge,
      refundId: r.refundId,
      amount: r.amount,
      currency: r.currency,
      status: r.status,
      alreadyRefunded: r.alreadyRefunded,
      idempotencyKey: r.idempotencyKey,
    }));
    if (this.caps)
      s.refundCaps = {
        summary: `${describeCaps(this.caps)}; used ${this.used.total} in ${this.used.count} automatic refund(s)`,
        ...this.caps,
        usedCount: this.used.count,
        usedTotal: this.used.total,
      };
    const waiting = this.byStatus('waiting-approval');
    if (waiting.length)
      s.refundsWaiting = {
        summary: this.waitingLines().join('; '),
        charges: waiting.map((e) => ({
          charge: e.charge,
          amount: e.amount,
          currency: e.currency,
          why: e.overCap,
          gate: e.gate,
        })),
      };
    else delete s.refundsWaiting;
    const failing = this.byStatus('retrying', 'failed');
    if (failing.length)
      this.inc.state.failing.refunds = failing.map((e) => `${e.charge}: ${e.note}`).join('; ');
    else delete this.inc.state.failing.refunds;
    this.inc.refresh();
  }

  /** Runs for the incident's life: first attempts in order, gates for refunds over a cap. */
  async run(): Promise<void> {
    const gates = this.decideOverCap();
    const told = this.announceJoined();
    for (;;) {
      await condition(() => this.queue.length > 0 || this.inc.closed);
      if (this.inc.closed) break;
      this.busy = true;
      const entry = this.queue.shift()!;
      try {
        await this.process(entry, false, undefined);
      } finally {
        this.busy = false;
        this.show();
      }
    }
    for (const e of this.queue.splice(0)) e.status = 'not-refunded';
    this.show();
    await Promise.all([gates, told]);
  }

  /**
   * Tells the notify roles (CEO + CTO) about charges that joined the running incident, once each
   * had its first attempt: refunded, failing, or waiting for an approval over a cap.
   */
  private async announceJoined(): Promise<void> {
    for (let n = 1; ; n++) {
      const ready = () =>
        this.announce.length > 0 &&
        this.announce[0].charges.every(
          (c) => this.entries.find((e) => e.charge === c)?.status !== 'checking',
        );
      await condition(() => ready() || this.inc.closed);
      if (this.inc.closed) return;
      const { request, charges } = this.announce.shift()!;
      const lines = charges.map((c) => {
        const e = this.entries.find((x) => x.charge === c)!;
        const amount = e.amount === undefined ? '' : ` ${money(e.amount, e.currency ?? '')}`;
        return `  - ${c}${amount}: ${e.status}${e.overCap ? ` (${e.overCap})` : ''}${e.note ? ` (${e.note})` : ''}`;
      });
      const text = [
        `New charge(s) joined the billing error incident, from ${request.by} (${request.via})${request.reason ? `: ${request.reason}` : ''}:`,
        ...lines,
        ...this.summaryLines(),
      ].join('\n');
      await notifyRolesStep(
        this.inc,
        {
          name: `notify-charges-added-${n}`,
          title: `3. Notify ${this.opts.notifyRoles.join(' + ')}: charges added`,
          summary: `Notify ${this.opts.notifyRoles.join(' + ')}: ${charges.length} charge(s) added`,
        },
        {
          roles: this.opts.notifyRoles,
          subject: `[P0-3] Charges added: ${charges.join(', ').slice(0, 120)} (${this.inc.state.incidentId})`,
          text,
          messageId: `<${this.inc.state.incidentId}.charges-added-${n}@accubooks-runbooks>`,
        },
      );
    }
  }

  /** Reads the worker's caps once (retried: without them nothing is refunded automatically). */
  private async readCaps(): Promise<RefundCaps> {
    while (!this.caps) {
      const caps = await this.inc.check(
        'refund-caps',
        "2. Read the worker's refund caps",
        () => withSummary(checks.refundCaps, 'Read the refund caps (worker configuration)'),
        (c) => describeCaps(c),
      );
      if (caps) this.caps = caps;
      else await this.inc.waitFor(this.inc.recheckDelay(0), 'Wait, then read the refund caps again');
    }
    return this.caps;
  }

  /**
   * One charge: its amount, the caps, then the refund. `approvedBy` set: the refund was approved
   * over a cap. A failure of the quick attempts starts the patient ones in the background.
   */
  private async process(e: ChargeEntry, patient: boolean, approvedBy: string | undefined): Promise<void> {
    try {
      if (e.amount === undefined) {
        e.status = patient ? 'retrying' : 'checking';
        const amount = await readChargeAmount(this.inc, e.charge, patient);
        e.amount = amount.refundable;
        e.currency = amount.currency;
      }
      if (!approvedBy && e.overCap === undefined) {
        const caps = await this.readCaps();
        const why = overRefundCap(caps, this.used, e.amount, e.currency ?? '');
        if (why) {
          e.overCap = why;
          e.status = 'waiting-approval';
          this.overCap.push(e);
          this.inc.decide(`Refund of ${e.charge} (${money(e.amount, e.currency ?? '')}) not made: ${why}`);
          this.show();
          return;
        }
        // Reserved now (no await since the check): a later charge sees it.
        this.used = { count: this.used.count + 1, total: this.used.total + e.amount };
        e.overCap = '';
      }
      e.status = patient ? 'retrying' : 'refunding';
      this.show();
      const r = await refundCharge(this.inc, this.opts, e.charge, patient, approvedBy);
      e.status = 'refunded';
      e.refundId = r.refundId;
      e.note = r.alreadyRefunded ? 'refunded before (Stripe: charge_already_refunded)' : undefined;
      this.refunds.push(r);
      this.show();
      if (patient) this.inc.decide(`Refund of ${e.charge} issued late: ${describeRefund(r)}`);
      await this.document(r);
    } catch (err) {
      e.note = failureText(err);
      if (patient) {
        e.status = 'failed';
        this.inc.decide(`Refund of ${e.charge} still failing after a day of retries: ${e.note}`);
        this.show();
        return;
      }
      e.status = 'retrying';
      this.newFailures.push(`${e.charge}: ${e.note}`);
      this.show();
      // Not given up: retried in the background (same key) while the runbook goes on.
      void this.process(e, true, approvedBy);
    }
  }

  /** 4. Document each refund under the evidence directory, once. */
  private async document(refund: RefundRecord): Promise<void> {
    if (this.documented.has(refund.requested)) return;
    this.documented.add(refund.requested);
    const doc = await documentRefund(this.inc, this.opts, refund);
    if (doc) {
      this.documents.push(doc.path);
      this.documentModes[doc.path] = { mode: doc.mode, dirMode: doc.dirMode };
    }
  }

  /**
   * Refunds over a cap, a batch per gate: the approvers see exactly the charges they decide on;
   * charges held later go to the next gate (`refund-over-cap-2`, ...).
   */
  private async decideOverCap(): Promise<void> {
    for (;;) {
      await condition(() => this.overCap.length > 0 || this.inc.closed);
      if (this.inc.closed) break;
      const batch = this.overCap.splice(0);
      this.gateRounds++;
      const gateId =
        this.gateRounds === 1 ? REFUND_OVER_CAP_GATE : `${REFUND_OVER_CAP_GATE}-${this.gateRounds}`;
      const lines = batch.map((e) => `${e.charge}: ${money(e.amount ?? 0, e.currency ?? '')} (${e.overCap})`);
      for (const e of batch) e.gate = gateId;
      this.show();
      const gate = new ApprovalGate(
        this.inc.approvals,
        gateId,
        `Refund over the cap: ${batch.map((e) => `${e.charge} ${money(e.amount ?? 0, e.currency ?? '')}`).join(', ')}`,
        this.opts.approvalPolicy,
        { blocksRunbook: false },
      );
      const context = [
        `P0-3 ${this.inc.state.incidentId}: refund(s) over the worker's refund caps (${describeCaps(this.caps!)}):`,
        ...lines.map((l) => `  - ${l}`),
        'Approve to refund them in full; reject to leave them unrefunded (recorded).',
      ].join('\n');
      const decided = await Promise.race([
        gate.waitForApproval(context).then(() => true),
        condition(() => this.inc.closed).then(() => false),
      ]);
      if (!decided) {
        for (const e of batch) e.status = 'not-refunded';
        this.show();
        break;
      }
      if (gate.approved) {
        const by = gate.record.approvedBy.map((a) => `${a.approver} (${a.roles.join('/')})`).join(', ');
        this.inc.decide(`Refund(s) over the cap approved by ${by}: ${batch.map((e) => e.charge).join(', ')}`);
        for (const e of batch) {
          e.approvedBy = by;
          await this.process(e, false, by);
        }
      } else {
        const r = gate.record.rejections.at(-1);
        const why = r ? `rejected by ${r.approver}: ${r.reason}` : 'rejected';
        for (const e of batch) {
          e.status = 'rejected';
          e.note = why;
        }
        this.inc.decide(`Refund(s) over the cap NOT made (${why}): ${batch.map((e) => e.charge).join(', ')}`);
      }
      this.show();
    }
  }
}
