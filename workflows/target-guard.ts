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
  workflowInfo,
} from '@temporalio/workflow';
import { checks } from './activity-proxies';
import { RUNBOOKS, isRunbookId } from '../definitions/catalog';
import { setupHoldRelease } from './hold-release';
import {
  TARGET_ACTION_RULES,
  KINDS,
  isExclusive,
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
} from '../definitions/target-guard';
import { targetLeaseDefaults } from '../definitions/policies/target-guard';

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
  const policy = { ...targetLeaseDefaults, ...(input.policy ?? {}) };
  const state: TargetLeaseState = {
    target: input.target,
    policy,
    holds: input.carried?.holds ?? [],
    inFlight: input.carried?.inFlight,
    recent: input.carried?.recent ?? [],
    queued: [],
    log: input.carried?.log ?? [],
    handled: 0,
  };
  const replies = new Map<string, TargetReply>();
  let version = 0;
  const now = () => new Date().toISOString();
  const note = (text: string) => {
    state.log.push(`${now()} ${text}`);
    if (state.log.length > 100) state.log.splice(0, state.log.length - 100);
  };

  const otherHold = (req: TargetRequest) =>
    state.holds.find((h) => h.holder.workflowId !== req.requester.workflowId);

  async function decide(req: TargetRequest): Promise<TargetReply> {
    const base = { requestId: req.requestId, target: state.target, kind: req.kind };
    const who = describeRunbook(req.requester);
    const held = otherHold(req);

    if (req.kind === 'hold') {
      if (!state.holds.some((h) => h.holder.workflowId === req.requester.workflowId)) {
        state.holds.push({
          requestId: req.requestId,
          holder: req.requester,
          reason: req.reason,
          since: now(),
        });
      }
      return { ...base, granted: true, reason: `${state.target} is held for ${who}: ${req.reason}` };
    }

    if (req.kind === 'release-hold') {
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
      return {
        ...base,
        granted: true,
        reason: `hold released by ${who} after approval (${approval.detail})`,
      };
    }

    const rule = TARGET_ACTION_RULES[req.kind];
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
            Date.parse(a.grantedAt) >= Date.parse(req.decidedAt) - policy.coverWindowMs,
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
    if (rule.restartBudget) {
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
      if (inWindow.length >= policy.maxRestarts) {
        return {
          ...base,
          granted: false,
          reason:
            `crash loop: ${state.target} was restarted ${inWindow.length} times in the last ` +
            `${Math.round(policy.restartWindowMs / 60_000)} minutes (by ${[...new Set(inWindow.map((a) => a.requester.incidentId))].join(', ')}); ` +
            `restarts are paused: escalate to a person instead`,
        };
      }
    }

    const grantedAt = now();
    const record: ActionRecord = {
      requestId: req.requestId,
      kind: req.kind,
      requester: req.requester,
      grantedAt,
      expiresAt: new Date(Date.now() + (rule.leaseMs ?? policy.leaseMs)).toISOString(),
    };
    if (rule.exclusive) state.inFlight = record;
    state.recent.push(record);
    return {
      ...base,
      granted: true,
      reason: `${req.kind} of ${state.target} granted to ${who}`,
      leaseExpiresAt: record.expiresAt,
    };
  }

  setHandler(
    targetActionUpdate,
    async (req) => {
      const known = replies.get(req.requestId);
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
        note(`REFUSED ${req.kind} for ${describeRunbook(req.requester)}: ${refused.reason}`);
        replies.set(req.requestId, refused);
        return refused;
      }
      const exclusive = isExclusive(req.kind);
      if (exclusive) {
        state.queued.push(req.requestId);
        version++;
        // One at a time, in arrival order, and never while another exclusive action is in flight.
        await condition(() => state.queued[0] === req.requestId && state.inFlight === undefined);
      }
      let reply: TargetReply;
      try {
        reply = await decide(req);
      } finally {
        if (exclusive) state.queued.shift();
        state.handled++;
        version++;
      }
      note(
        `${reply.granted ? 'GRANTED' : 'REFUSED'} ${req.kind} for ${describeRunbook(req.requester)}: ${reply.reason}`,
      );
      replies.set(req.requestId, reply);
      if (replies.size > 200) replies.delete(replies.keys().next().value!);
      return reply;
    },
    {
      validator: validate,
      description: 'Ask to restart/stop/start/scale/hold/release the target (runbooks only)',
    },
  );

  // Reports being checked, and reports the requester did not confirm, per grant.
  const confirming = new Set<string>();
  const unconfirmed = new Map<string, number>();
  setHandler(
    targetDoneSignal,
    async (done) => {
      const rec = state.recent.find((a) => a.requestId === done?.requestId);
      if (!rec || rec.finishedAt || confirming.has(rec.requestId)) return;
      // Past a few unconfirmed reports a grant is left to its lease: a flood cannot grow history.
      if ((unconfirmed.get(rec.requestId) ?? 0) >= 3) return;
      // Anyone can send this signal: only the requester's own state says the action finished.
      confirming.add(rec.requestId);
      const seen = await checks
        .confirmActionDone({ requesterWorkflowId: rec.requester.workflowId, requestId: rec.requestId })
        .catch((err: unknown) => ({ finished: false, ok: undefined, detail: String(err) }))
        .finally(() => confirming.delete(rec.requestId));
      if (rec.finishedAt) return;
      if (!seen.finished) {
        unconfirmed.set(rec.requestId, (unconfirmed.get(rec.requestId) ?? 0) + 1);
        note(
          `a report that ${rec.kind} by ${describeRunbook(rec.requester)} finished was ignored: ${seen.detail}`,
        );
        version++;
        return;
      }
      rec.finishedAt = now();
      rec.ok = seen.ok ?? done.ok === true;
      if (state.inFlight?.requestId === rec.requestId) state.inFlight = undefined;
      note(
        `${rec.kind} by ${describeRunbook(rec.requester)} finished ${rec.ok ? 'ok' : 'with a failure'}${done.note ? `: ${done.note}` : ''}`,
      );
      version++;
    },
    { description: 'A granted action finished (believed once the requester’s own state confirms it)' },
  );

  setHandler(targetLeaseStateQuery, () => state, {
    description: 'Holds, the action in flight, recent actions',
  });
  // A hold whose incident closed without its approval is released only by the resume roles' approval.
  const release = setupHoldRelease({
    target: state.target,
    holderIncident: () => state.holds[0]?.holder.incidentId,
    release(why) {
      for (const h of state.holds) note(`hold of the ${describeRunbook(h.holder)} ${why}`);
      state.holds = [];
      version++;
    },
    note,
    gateRecords: (state.approvals = []),
  });

  const live = (a: ActionRecord) => !a.finishedAt && Date.parse(a.expiresAt) > Date.now();
  setHandler(
    targetGrantQuery,
    (requestId): TargetGrantStatus | null => {
      const a = state.recent.find((r) => r.requestId === requestId);
      return a ? { ...a, target: state.target, live: live(a) } : null;
    },
    { description: 'Is this grant live? (asked by every mutating activity before it acts)' },
  );

  const prune = () => {
    const keepAfter = Date.now() - Math.max(policy.restartWindowMs, 60 * 60_000);
    // A live grant is kept whatever its age: its activity may still be retrying (a refund, a day).
    const kept = state.recent.filter(
      (a) => a === state.inFlight || live(a) || Date.parse(a.grantedAt) >= keepAfter,
    );
    while (kept.length > 50) {
      const old = kept.findIndex((a) => a !== state.inFlight && !live(a));
      if (old < 0) break;
      kept.splice(old, 1);
    }
    state.recent = kept;
  };

  for (;;) {
    const seen = version;
    const wait = state.inFlight
      ? Math.max(1, Date.parse(state.inFlight.expiresAt) - Date.now())
      : policy.idleCloseMs;
    const woke = await condition(() => version !== seen, wait);
    if (state.inFlight && Date.parse(state.inFlight.expiresAt) <= Date.now()) {
      note(
        `no report from ${describeRunbook(state.inFlight.requester)} on its ${state.inFlight.kind} within the lease; assuming it finished`,
      );
      state.inFlight.finishedAt = now();
      state.inFlight = undefined;
      version++;
    }
    prune();
    const idle =
      state.holds.length === 0 &&
      !state.inFlight &&
      state.queued.length === 0 &&
      state.recent.length === 0 &&
      !release.pending();
    if (!woke && idle) {
      await condition(allHandlersFinished);
      return state;
    }
    // A release waiting for its approval keeps this run (its codes and attempts live here).
    if ((state.handled >= 500 || workflowInfo().continueAsNewSuggested) && !release.pending()) {
      await condition(() => allHandlersFinished() && state.queued.length === 0);
      await continueAsNew<typeof targetLease>({
        target: state.target,
        policy,
        carried: { holds: state.holds, inFlight: state.inFlight, recent: state.recent, log: state.log },
      });
    }
  }
}
