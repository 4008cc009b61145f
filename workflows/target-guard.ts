/**
 * The target guard: one long-lived workflow per target (workflow ID `target-guard-<target>`) that
 * grants or refuses every mutating action on it and keeps holds. It decides from one table,
 * TARGET_ACTION_RULES below (the same table, with its reasons, is in docs/target-guard.md):
 *   - a hold (P0-4 data integrity) refuses, to anyone but the holder, every action the table marks
 *     `heldBlocks`, until the holder releases it; the release is accepted only once the holder has
 *     an accepted approval;
 *   - `exclusive` actions run one at a time: a request waits while another runbook's exclusive
 *     action is in flight; the others run alongside;
 *   - a restart asked for before another restart finished is covered by it (not repeated);
 *   - actions marked `restartBudget` are rate-limited: past `maxRestarts` in `restartWindowMs` a
 *     crash loop is refused, so the runbook escalates instead of restarting forever.
 * The guard only answers; the runbook's own activity then acts and reports back (`actionDone`).
 * Requests arrive as updates (from an activity, so a grant cannot be forged by a signal). Every
 * mutating activity asks the guard (`grantQuery`) whether the grant it was handed is live, for its
 * own workflow and action, before it touches anything (activities/target-guard.ts): an activity
 * called without a grant, with another workflow's, or after the grant ended, refuses.
 */
import {
  allHandlersFinished,
  condition,
  continueAsNew,
  setHandler,
  setWorkflowOptions,
  workflowInfo,
} from '@temporalio/workflow';
import { autoUpgradeWhenVersioned } from './versioning';
import { checks } from './activity-proxies';
import { RUNBOOKS, isRunbookId } from '../definitions/catalog';
import { setupHoldRelease } from './hold-release';
import {
  TARGET_ACTION_RULES,
  KINDS,
  isExclusive,
  type GuardedActionKind,
  type TargetDone,
  type TargetGrantStatus,
  type TargetRequester,
  type TargetRequest,
  type TargetReply,
  type ActionRecord,
  type TargetLeaseState,
  type TargetLeaseInput,
  targetActionUpdate,
  targetDoneSignal,
  targetLeaseStateQuery,
  targetGrantQuery,
  targetWouldGrantQuery,
} from '../definitions/target-guard';
import { targetLeaseDefaults, type TargetLeasePolicy } from '../definitions/policies/target-guard';

const describeRunbook = (r: TargetRequester) =>
  isRunbookId(r.runbook)
    ? `${r.runbook} ${RUNBOOKS[r.runbook].name.toLowerCase()} incident ${r.incidentId}`
    : `${r.runbook} incident ${r.incidentId}`;

function validate(req: TargetRequest): void {
  const problems: string[] = [];
  if (!req || typeof req !== 'object') throw new Error('request must be an object');
  if (typeof req.requestId !== 'string' || !req.requestId) problems.push('requestId');
  if (!KINDS.includes(req.kind)) problems.push(`kind (one of ${KINDS.join(', ')})`);
  if (typeof req.requester?.workflowId !== 'string' || !req.requester.workflowId)
    problems.push('requester.workflowId');
  if (typeof req.reason !== 'string') problems.push('reason');
  if (typeof req.decidedAt !== 'string' || Number.isNaN(Date.parse(req.decidedAt)))
    problems.push('decidedAt');
  if (problems.length) throw new Error(`invalid target request: missing or invalid ${problems.join(', ')}`);
}

export async function targetLease(input: TargetLeaseInput): Promise<TargetLeaseState> {
  return new TargetGuard(input).run();
}
// Worker Versioning (issue 22): AUTO_UPGRADE, not pinned like the incidents. One guard per target
// lives as long as the target: pinned, it would keep the build it started on running forever, and
// every incident on a new build would still ask an old one. It moves to the current build on its
// next workflow task instead, so a change to this file must replay its open histories: the release
// replay gate checks them, and a change of its commands goes behind patched() (docs/runbook-changes.md).
setWorkflowOptions(autoUpgradeWhenVersioned, targetLease);

const now = () => new Date().toISOString();

/** One run of a target's guard: its state, its handlers and its loop. */
class TargetGuard {
  private readonly policy: TargetLeasePolicy;
  private readonly state: TargetLeaseState;
  private readonly replies = new Map<string, TargetReply>();
  /** Bumped on every change the loop must look at again. */
  private version = 0;
  // Reports being checked, and reports the requester did not confirm, per grant.
  private readonly confirming = new Set<string>();
  private readonly unconfirmed = new Map<string, number>();
  private readonly release: { pending: () => boolean };

  constructor(input: TargetLeaseInput) {
    this.policy = { ...targetLeaseDefaults, ...(input.policy ?? {}) };
    this.state = {
      target: input.target,
      policy: this.policy,
      holds: input.carried?.holds ?? [],
      inFlight: input.carried?.inFlight,
      recent: input.carried?.recent ?? [],
      queued: [],
      log: input.carried?.log ?? [],
      handled: 0,
    };
    setHandler(targetActionUpdate, (req) => this.onRequest(req), {
      validator: validate,
      description: 'Ask to restart/stop/start/scale/hold/release the target (runbooks only)',
    });
    setHandler(targetDoneSignal, (done) => this.onDone(done), {
      description: 'A granted action finished (believed once the requester’s own state confirms it)',
    });
    setHandler(targetLeaseStateQuery, () => this.state, {
      description: 'Holds, the action in flight, recent actions',
    });
    // A hold whose incident closed without its approval is released only by the resume roles' approval.
    this.release = setupHoldRelease({
      target: this.state.target,
      holderIncident: () => this.state.holds[0]?.holder.incidentId,
      release: (why) => {
        for (const h of this.state.holds) this.note(`hold of the ${describeRunbook(h.holder)} ${why}`);
        this.state.holds = [];
        this.version++;
      },
      note: (text) => this.note(text),
      gateRecords: (this.state.approvals = []),
    });
    setHandler(targetGrantQuery, (requestId) => this.grantStatus(requestId), {
      description: 'Is this grant live? (asked by every mutating activity before it acts)',
    });
    setHandler(targetWouldGrantQuery, (req) => this.wouldGrant(req), {
      description: 'Would this action be granted now? (dry runs; read-only: no lease, no hold, no turn)',
    });
  }

  /**
   * `wouldGrant` (dry runs): the table's answer to this request as things stand, from the same
   * rules as `requestAction`, without recording anything: a query cannot change the guard's state,
   * so no lease, hold, turn or budget is taken and no UI user can act through it.
   */
  private wouldGrant(req: TargetRequest): TargetReply {
    validate(req);
    const state = this.state;
    const base = replyBase(state, req);
    const who = describeRunbook(req.requester);
    if (req.kind === 'hold')
      return { ...base, granted: true, reason: `${state.target} would be held for ${who}` };
    if (req.kind === 'release-hold') {
      const mine = state.holds.some((h) => h.holder.workflowId === req.requester.workflowId);
      return mine
        ? { ...base, granted: false, reason: `release needs an accepted approval of ${who}` }
        : { ...base, granted: true, reason: `${who} holds nothing on ${state.target}` };
    }
    const refusal = refusalOf(state, req);
    if (refusal) return refusal;
    const inFlight = state.inFlight;
    const after =
      isExclusive(req.kind) && inFlight
        ? ` once the ${inFlight.kind} in flight for ${describeRunbook(inFlight.requester)} finishes`
        : '';
    return {
      ...base,
      granted: true,
      reason: `${req.kind} of ${state.target} would be granted to ${who}${after}`,
    };
  }

  private note(text: string): void {
    const log = this.state.log;
    log.push(`${now()} ${text}`);
    if (log.length > 100) log.splice(0, log.length - 100);
  }

  private live(a: ActionRecord): boolean {
    return !a.finishedAt && Date.parse(a.expiresAt) > Date.now();
  }

  private grantStatus(requestId: string): TargetGrantStatus | null {
    const a = this.state.recent.find((r) => r.requestId === requestId);
    return a ? { ...a, target: this.state.target, live: this.live(a) } : null;
  }

  /** `requestAction`: only a running incident of this target is heard, then the table decides. */
  private async onRequest(req: TargetRequest): Promise<TargetReply> {
    const state = this.state;
    const known = this.replies.get(req.requestId);
    if (known) return known;
    // Anyone with the UI can send this update naming any requester: only a running incident of
    // this target is heard (and only P0-4 may hold), before it can take a hold or the target's turn.
    const requester = await checks.verifyRequester({
      target: state.target,
      kind: req.kind,
      requestId: req.requestId,
      requester: req.requester,
    });
    if (!requester.ok) {
      const refused: TargetReply = {
        requestId: req.requestId,
        target: state.target,
        kind: req.kind,
        granted: false,
        reason: `request refused: ${requester.detail}`,
      };
      this.note(`REFUSED ${req.kind} for ${describeRunbook(req.requester)}: ${refused.reason}`);
      this.replies.set(req.requestId, refused);
      return refused;
    }
    const exclusive = isExclusive(req.kind);
    if (exclusive) {
      state.queued.push(req.requestId);
      this.version++;
      // One at a time, in arrival order, and never while another exclusive action is in flight.
      await condition(() => state.queued[0] === req.requestId && state.inFlight === undefined);
    }
    let reply: TargetReply;
    try {
      reply = await this.decide(req);
    } finally {
      if (exclusive) state.queued.shift();
      state.handled++;
      this.version++;
    }
    this.note(
      `${reply.granted ? 'GRANTED' : 'REFUSED'} ${req.kind} for ${describeRunbook(req.requester)}: ${reply.reason}`,
    );
    this.replies.set(req.requestId, reply);
    if (this.replies.size > 200) this.replies.delete(this.replies.keys().next().value!);
    return reply;
  }

  /** The table's answer to a heard request (TARGET_ACTION_RULES). */
  private async decide(req: TargetRequest): Promise<TargetReply> {
    if (req.kind === 'hold') return this.hold(req);
    if (req.kind === 'release-hold') return this.releaseHold(req);
    const refusal = refusalOf(this.state, req);
    if (refusal) return refusal;
    return this.grant(req);
  }

  private hold(req: TargetRequest): TargetReply {
    const state = this.state;
    if (!state.holds.some((h) => h.holder.workflowId === req.requester.workflowId)) {
      state.holds.push({ requestId: req.requestId, holder: req.requester, reason: req.reason, since: now() });
    }
    return {
      ...replyBase(state, req),
      granted: true,
      reason: `${state.target} is held for ${describeRunbook(req.requester)}: ${req.reason}`,
    };
  }

  private async releaseHold(req: TargetRequest): Promise<TargetReply> {
    const state = this.state;
    const base = replyBase(state, req);
    const who = describeRunbook(req.requester);
    const mine = state.holds.filter((h) => h.holder.workflowId === req.requester.workflowId);
    if (mine.length === 0)
      return { ...base, granted: true, reason: `${who} held nothing on ${state.target}` };
    // Only a holder with an accepted approval may let go: a forged release cannot undo the stop.
    const approval = await checks.holderApproval({ holderWorkflowId: req.requester.workflowId });
    if (!approval.approved) {
      return {
        ...base,
        granted: false,
        reason: `release refused: ${who} has no accepted approval (${approval.detail})`,
        heldBy: mine[0],
      };
    }
    state.holds = state.holds.filter((h) => h.holder.workflowId !== req.requester.workflowId);
    return { ...base, granted: true, reason: `hold released by ${who} after approval (${approval.detail})` };
  }

  private grant(req: TargetRequest): TargetReply {
    const state = this.state;
    const rule = TARGET_ACTION_RULES[req.kind as GuardedActionKind];
    const record: ActionRecord = {
      requestId: req.requestId,
      kind: req.kind,
      requester: req.requester,
      grantedAt: now(),
      expiresAt: new Date(Date.now() + (rule.leaseMs ?? this.policy.leaseMs)).toISOString(),
    };
    if (rule.exclusive) state.inFlight = record;
    state.recent.push(record);
    return {
      ...replyBase(state, req),
      granted: true,
      reason: `${req.kind} of ${state.target} granted to ${describeRunbook(req.requester)}`,
      leaseExpiresAt: record.expiresAt,
    };
  }

  /** `actionDone`: believed only once the requester's own state confirms the action finished. */
  private async onDone(done: TargetDone): Promise<void> {
    const state = this.state;
    const rec = state.recent.find((a) => a.requestId === done?.requestId);
    if (!rec || rec.finishedAt || this.confirming.has(rec.requestId)) return;
    // Past a few unconfirmed reports a grant is left to its lease: a flood cannot grow history.
    if ((this.unconfirmed.get(rec.requestId) ?? 0) >= 3) return;
    // Anyone can send this signal: only the requester's own state says the action finished.
    this.confirming.add(rec.requestId);
    const seen = await checks
      .confirmActionDone({ requesterWorkflowId: rec.requester.workflowId, requestId: rec.requestId })
      .catch((err: unknown) => ({ finished: false, ok: undefined, detail: String(err) }))
      .finally(() => this.confirming.delete(rec.requestId));
    if (rec.finishedAt) return;
    if (!seen.finished) {
      this.unconfirmed.set(rec.requestId, (this.unconfirmed.get(rec.requestId) ?? 0) + 1);
      this.note(
        `a report that ${rec.kind} by ${describeRunbook(rec.requester)} finished was ignored: ${seen.detail}`,
      );
      this.version++;
      return;
    }
    rec.finishedAt = now();
    rec.ok = seen.ok ?? done.ok === true;
    if (state.inFlight?.requestId === rec.requestId) state.inFlight = undefined;
    this.note(
      `${rec.kind} by ${describeRunbook(rec.requester)} finished ${rec.ok ? 'ok' : 'with a failure'}${done.note ? `: ${done.note}` : ''}`,
    );
    this.version++;
  }

  private prune(): void {
    const state = this.state;
    const keepAfter = Date.now() - Math.max(this.policy.restartWindowMs, 60 * 60_000);
    // A live grant is kept whatever its age: its activity may still be retrying (a refund, a day).
    const kept = state.recent.filter(
      (a) => a === state.inFlight || this.live(a) || Date.parse(a.grantedAt) >= keepAfter,
    );
    while (kept.length > 50) {
      const old = kept.findIndex((a) => a !== state.inFlight && !this.live(a));
      if (old < 0) break;
      kept.splice(old, 1);
    }
    state.recent = kept;
  }

  /** A grant whose report never came ends with its lease. */
  private expireInFlight(): void {
    const inFlight = this.state.inFlight;
    if (!inFlight || Date.parse(inFlight.expiresAt) > Date.now()) return;
    this.note(
      `no report from ${describeRunbook(inFlight.requester)} on its ${inFlight.kind} within the lease; assuming it finished`,
    );
    inFlight.finishedAt = now();
    this.state.inFlight = undefined;
    this.version++;
  }

  private get idle(): boolean {
    const state = this.state;
    return (
      state.holds.length === 0 &&
      !state.inFlight &&
      state.queued.length === 0 &&
      state.recent.length === 0 &&
      !this.release.pending()
    );
  }

  async run(): Promise<TargetLeaseState> {
    const state = this.state;
    for (;;) {
      const seen = this.version;
      const wait = state.inFlight
        ? Math.max(1, Date.parse(state.inFlight.expiresAt) - Date.now())
        : this.policy.idleCloseMs;
      const woke = await condition(() => this.version !== seen, wait);
      this.expireInFlight();
      this.prune();
      if (!woke && this.idle) {
        await condition(allHandlersFinished);
        return state;
      }
      // A release waiting for its approval keeps this run (its codes and attempts live here).
      if ((state.handled >= 500 || workflowInfo().continueAsNewSuggested) && !this.release.pending()) {
        await condition(() => allHandlersFinished() && state.queued.length === 0);
        await continueAsNew<typeof targetLease>({
          target: state.target,
          policy: this.policy,
          carried: { holds: state.holds, inFlight: state.inFlight, recent: state.recent, log: state.log },
        });
      }
    }
  }
}

const replyBase = (state: TargetLeaseState, req: TargetRequest) => ({
  requestId: req.requestId,
  target: state.target,
  kind: req.kind,
});

/** Why the table refuses this action now (held, covered by another restart, crash loop), if it does. */
function refusalOf(state: TargetLeaseState, req: TargetRequest): TargetReply | undefined {
  const rule = TARGET_ACTION_RULES[req.kind as GuardedActionKind];
  const base = replyBase(state, req);
  const held = state.holds.find((h) => h.holder.workflowId !== req.requester.workflowId);
  if (held && rule.heldBlocks) {
    return {
      ...base,
      granted: false,
      heldBy: held,
      reason:
        `${state.target} is held by the ${describeRunbook(held.holder)} (workflow ${held.holder.workflowId}) ` +
        `since ${held.since}: ${held.reason}. No runbook may ${req.kind} it until that ` +
        `incident is approved to resume (${rule.why})`,
    };
  }
  if (req.kind === 'restart') {
    const cover = [...state.recent]
      .reverse()
      .find(
        (a) =>
          (a.kind === 'restart' || a.kind === 'start') &&
          a.ok !== false &&
          a.requester.workflowId !== req.requester.workflowId &&
          Date.parse(a.grantedAt) >=
            Date.parse(req.decidedAt) - (req.afterChange ? 0 : state.policy.coverWindowMs),
      );
    if (cover) {
      return {
        ...base,
        granted: false,
        coveredBy: {
          requestId: cover.requestId,
          requester: cover.requester,
          kind: cover.kind,
          grantedAt: cover.grantedAt,
        },
        reason: `${state.target} was just ${cover.kind}ed by ${describeRunbook(cover.requester)} at ${cover.grantedAt}, around when this restart was decided; not restarting it again`,
      };
    }
  }
  return rule.restartBudget ? budgetRefusal(state, base) : undefined;
}

/** Past `maxRestarts` in the window the crash loop is refused: the runbook escalates instead. */
function budgetRefusal(state: TargetLeaseState, base: ReturnType<typeof replyBase>): TargetReply | undefined {
  const { policy } = state;
  const since = Date.now() - policy.restartWindowMs;
  // A restart reported as failed (the engine did not answer) restarted nothing: not counted.
  const inWindow = state.recent.filter(
    (a) =>
      a.kind !== 'hold' &&
      a.kind !== 'release-hold' &&
      TARGET_ACTION_RULES[a.kind].restartBudget &&
      Date.parse(a.grantedAt) >= since &&
      a.ok !== false,
  );
  if (inWindow.length < policy.maxRestarts) return undefined;
  return {
    ...base,
    granted: false,
    reason:
      `crash loop: ${state.target} was restarted ${inWindow.length} times in the last ` +
      `${Math.round(policy.restartWindowMs / 60_000)} minutes (by ${[...new Set(inWindow.map((a) => a.requester.incidentId))].join(', ')}); ` +
      `restarts are paused: escalate to a person instead`,
  };
}
