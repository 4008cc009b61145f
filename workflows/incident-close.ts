/**
 * How a person closes an incident: `resolve` is a claim the runbook's own end-state check must
 * verify (while it fails the incident stays open and keeps escalating); `abandon` needs the abandon
 * role's one-time code (default CTO), through the incident's approval hub.
 */
import { condition, setHandler } from '@temporalio/workflow';
import { abandonSignal, resolveSignal } from '../definitions/messages';
import { approvalDefaults } from '../definitions/policies/approval';
import type { CloseRequest, HumanClose, IncidentState } from '../definitions/types';
import { ApprovalGate } from './approval';
import type { EndStateCheck } from './end-state';
import type { ApprovalHub } from './approval-hub';
import { failureText } from './incident-failures';

const now = () => new Date().toISOString();

/** What the closes need of their incident (workflows/incident.ts). */
export interface CloseHost {
  readonly state: IncidentState;
  readonly approvals: ApprovalHub;
  readonly closed: boolean;
  readonly background: Promise<void>[];
  wakeups: number;
  endStateCheck?: EndStateCheck;
  decide(text: string): void;
}

export class HumanCloses {
  humanClose?: { action: 'resolve' | 'abandon'; by: string; reason: string; verified?: string };
  private readonly abandonGate: ApprovalGate;
  private abandonAsked?: CloseRequest;
  private resolveClaims: CloseRequest[] = [];

  constructor(
    private readonly host: CloseHost,
    abandonRoles: string[],
  ) {
    this.abandonGate = new ApprovalGate(
      host.approvals,
      'abandon',
      'Abandon this incident: stop its automation and escalations for good',
      { ...approvalDefaults, requiredRoles: abandonRoles },
      { blocksRunbook: false },
    );
  }

  /** Registers the `resolve` and `abandon` handlers (after the hub runs: see Incident's constructor). */
  listen(): void {
    setHandler(resolveSignal, (close) => this.claimResolved(close), {
      description:
        'Claim the incident is resolved: {"by": "name", "reason": "why"}. The runbook checks the end state itself; while the check fails the incident stays open and keeps escalating.',
    });
    setHandler(abandonSignal, (close) => this.askToAbandon(close), {
      description:
        'Abandon the incident (no further automation or escalation): {"by": "name", "reason": "why"} asks the abandon role (default CTO) for a one-time code; they confirm with the approval signal or {"by", "reason", "code"} here.',
    });
  }

  /** `by` and `reason` of a close signal, or undefined (recorded) when either is missing. */
  private closeFields(
    action: 'resolve' | 'abandon',
    close: HumanClose,
  ): { by: string; reason: string } | undefined {
    const by = typeof close?.by === 'string' && close.by.trim() ? close.by.trim().slice(0, 100) : undefined;
    const reason =
      typeof close?.reason === 'string' && close.reason.trim()
        ? close.reason.trim().slice(0, 500)
        : undefined;
    if (!by || !reason) {
      this.host.decide(`Ignored a ${action} signal without "by" and "reason"`);
      return undefined;
    }
    return { by, reason };
  }

  private recordClose(req: CloseRequest): CloseRequest {
    const list = (this.host.state.closeRequests ??= []);
    // Bounded like approval attempts: a flood of close signals cannot grow the state without end.
    if (list.length < 50) list.push(req);
    return req;
  }

  /** A person says it is over: the runbook's own end-state check decides (background, in order). */
  private claimResolved(close: HumanClose): void {
    if (this.host.closed) return;
    const f = this.closeFields('resolve', close);
    if (!f) return;
    const claim = this.recordClose({ at: now(), action: 'resolve', ...f, outcome: 'verifying' });
    this.resolveClaims.push(claim);
    if (this.resolveClaims.length === 1) this.host.background.push(this.verifyClaims());
  }

  private async verifyClaims(): Promise<void> {
    // A claim delivered as the handlers register (sent before the start) waits for the runbook to
    // set its check, which it does right after creating the incident, before its first await.
    await Promise.resolve();
    while (this.resolveClaims.length > 0 && !this.host.closed) {
      const claim = this.resolveClaims[0];
      let verdict: { ok: boolean; detail: string };
      if (!this.host.endStateCheck)
        verdict = { ok: false, detail: 'this runbook cannot verify a resolve; use abandon' };
      else {
        try {
          verdict = await this.host.endStateCheck();
        } catch (err) {
          verdict = { ok: false, detail: `the check could not run (${failureText(err)})` };
        }
      }
      // Claims that arrived while this check ran are answered by it too.
      const answered = this.resolveClaims.splice(0);
      for (const c of answered) {
        c.outcome = verdict.ok ? 'verified' : 'refused';
        c.detail = verdict.detail;
      }
      if (verdict.ok && !this.host.closed) {
        this.humanClose = {
          action: 'resolve',
          by: claim.by,
          reason: claim.reason,
          verified: verdict.detail,
        };
        this.host.state.closedBy = { ...this.humanClose, at: now() };
        this.host.decide(`Resolved by ${claim.by}, verified by the runbook's check: ${verdict.detail}`);
        this.host.wakeups++;
      } else if (!verdict.ok) {
        this.host.decide(
          `Resolve by ${answered.map((c) => c.by).join(', ')} refused: ${verdict.detail}. The incident stays open and escalations continue`,
        );
      }
    }
  }

  /** Abandon: asks the abandon role for a code, or (with a code) is that person's approval. */
  private askToAbandon(close: HumanClose): void {
    if (this.host.closed) return;
    const f = this.closeFields('abandon', close);
    if (!f) return;
    if (close.code !== undefined) {
      this.host.approvals.enqueue(
        { approver: f.by, decision: 'approve', reason: f.reason, code: close.code, via: 'abandon signal' },
        'abandon signal',
      );
      return;
    }
    if (this.abandonAsked && this.abandonGate.record.status === 'pending') {
      this.recordClose({
        at: now(),
        action: 'abandon',
        ...f,
        outcome: 'approval requested',
        detail: 'already requested',
      });
      return;
    }
    this.abandonAsked = this.recordClose({
      at: now(),
      action: 'abandon',
      ...f,
      outcome: 'approval requested',
    });
    this.host.background.push(this.waitForAbandon(this.abandonAsked));
  }

  private async waitForAbandon(req: CloseRequest): Promise<void> {
    const gate = this.abandonGate;
    const roles = gate.policy.requiredRoles.join(' + ');
    const record = gate.waitForApproval(
      `${req.by} asks to abandon this incident (${this.host.state.title}): ${req.reason}.
Abandoning stops its automation and its escalations for good; ${this.host.state.severity} incidents keep paging until then.`,
    );
    await Promise.race([record, condition(() => this.host.closed)]);
    if (this.host.closed) return;
    if (gate.approved) {
      const by = gate.record.approvedBy.map((a) => `${a.approver} (${a.roles.join('/')})`).join(', ');
      req.outcome = 'approved';
      req.detail = `approved by ${by}`;
      this.humanClose = { action: 'abandon', by: `${req.by}, approved by ${by}`, reason: req.reason };
      this.host.state.closedBy = { ...this.humanClose, at: now() };
      this.host.decide(`Abandoned: asked by ${req.by} (${req.reason}), approved by ${by} (${roles})`);
      this.host.wakeups++;
    } else {
      req.outcome = 'rejected';
      req.detail = gate.record.rejections.at(-1)?.reason;
      this.abandonAsked = undefined;
      this.host.decide(`Abandon asked by ${req.by} was rejected by ${roles}; the incident goes on`);
    }
  }
}
