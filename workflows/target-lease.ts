/**
 * The target guard: one long-lived workflow per target (workflow ID `target-guard-<target>`) that
 * grants or refuses every mutating action on it (restart, stop, start, scale) and keeps holds.
 * Runbooks never act on a shared target without its answer (see target-guard.ts), so the
 * cross-runbook rules live here, in one place:
 *   - a hold (P0-4 data integrity) refuses every action by anyone but the holder, until the holder
 *     releases it, and the release is accepted only once the holder has an accepted approval;
 *   - one action at a time: a request waits while another runbook's action is in flight;
 *   - a restart asked for before another restart finished is covered by it (not repeated);
 *   - restarts are rate-limited: past `maxRestarts` in `restartWindowMs` a crash loop is refused,
 *     so the runbook escalates instead of restarting forever.
 * The guard only answers; the runbook's own activity then acts and reports back (`actionDone`).
 * Requests arrive as updates (from an activity, so a grant cannot be forged by a signal).
 */
import {
  allHandlersFinished,
  condition,
  continueAsNew,
  defineQuery,
  defineSignal,
  defineUpdate,
  patched,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import { checks } from './activity-proxies';
import { RUNBOOKS, isRunbookId } from './catalog';

export type TargetActionKind = 'restart' | 'stop' | 'start' | 'scale' | 'hold' | 'release-hold';
const KINDS: TargetActionKind[] = ['restart', 'stop', 'start', 'scale', 'hold', 'release-hold'];

export interface TargetRequester {
  workflowId: string;
  incidentId: string;
  runbook: string;
}

export interface TargetRequest {
  /** Unique per request (the update ID too, so a retried activity gets the first answer). */
  requestId: string;
  target: string;
  kind: TargetActionKind;
  requester: TargetRequester;
  reason: string;
  /** Requester's workflow time when it decided to act: a restart granted after this covers it. */
  decidedAt: string;
}

export interface TargetHold {
  requestId: string;
  holder: TargetRequester;
  reason: string;
  since: string;
}

export interface TargetReply {
  requestId: string;
  target: string;
  kind: TargetActionKind;
  granted: boolean;
  /** Why, in words fit for a page ("held by the data-integrity incident ..."). */
  reason: string;
  heldBy?: TargetHold;
  /** A restart made by someone else after this request was decided: it stands in for this one. */
  coveredBy?: { requestId: string; requester: TargetRequester; kind: TargetActionKind; grantedAt: string };
  /** Set on a grant: report `actionDone` before this, or the guard assumes the action finished. */
  leaseExpiresAt?: string;
}

export interface TargetDone {
  requestId: string;
  ok: boolean;
  note?: string;
}

export interface TargetLeasePolicy {
  /** Restarts of one target allowed within `restartWindowMs` (all runbooks together). */
  maxRestarts: number;
  restartWindowMs: number;
  /** How long a granted action may take before the guard stops waiting for its report. */
  leaseMs: number;
  /** The guard closes after this long with nothing held, in flight or recent. */
  idleCloseMs: number;
  /**
   * Another runbook's restart granted this long before a restart request (or any time after it was
   * decided) covers it: the requester saw the problem before that restart could help.
   */
  coverWindowMs: number;
}

export const targetLeaseDefaults: TargetLeasePolicy = {
  maxRestarts: 3,
  restartWindowMs: 15 * 60_000,
  leaseMs: 10 * 60_000,
  idleCloseMs: 24 * 60 * 60_000,
  coverWindowMs: 60_000,
};

interface ActionRecord {
  requestId: string;
  kind: TargetActionKind;
  requester: TargetRequester;
  grantedAt: string;
  expiresAt: string;
  finishedAt?: string;
  ok?: boolean;
}

export interface TargetLeaseState {
  target: string;
  policy: TargetLeasePolicy;
  holds: TargetHold[];
  inFlight?: ActionRecord;
  /** Granted actions, newest last (pruned to the rate window, at most 50). */
  recent: ActionRecord[];
  /** Requests waiting for their turn. */
  queued: string[];
  /** Every decision, newest last (at most 100). */
  log: string[];
  handled: number;
}

export interface TargetLeaseInput {
  target: string;
  policy?: Partial<TargetLeasePolicy>;
  carried?: Pick<TargetLeaseState, 'holds' | 'inFlight' | 'recent' | 'log'>;
}

export const targetActionUpdate = defineUpdate<TargetReply, [TargetRequest]>('requestAction');
export const targetDoneSignal = defineSignal<[TargetDone]>('actionDone');
export const targetLeaseStateQuery = defineQuery<TargetLeaseState>('targetState');
export const targetLeaseWorkflowId = (target: string) => `target-guard-${target}`;
export const TARGET_LEASE_WORKFLOW_TYPE = 'targetLease';

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

    if (held) {
      return {
        ...base,
        granted: false,
        heldBy: held,
        reason:
          `${state.target} is held by the ${describeRunbook(held.holder)} (workflow ${held.holder.workflowId}) ` +
          `since ${held.since}: ${held.reason}. No runbook may start, restart, stop or scale it until that ` +
          `incident is approved to resume`,
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
      const since = Date.now() - policy.restartWindowMs;
      // A restart reported as failed (the engine did not answer) restarted nothing: not counted.
      const inWindow = state.recent.filter(
        (a) =>
          a.kind === 'restart' &&
          Date.parse(a.grantedAt) >= since &&
          !(a.ok === false && patched('lease-failed-restarts-not-counted')),
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
      expiresAt: new Date(Date.now() + policy.leaseMs).toISOString(),
    };
    state.inFlight = record;
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
      state.queued.push(req.requestId);
      version++;
      // One at a time, in arrival order, and never while another action is in flight.
      await condition(() => state.queued[0] === req.requestId && state.inFlight === undefined);
      let reply: TargetReply;
      try {
        reply = await decide(req);
      } finally {
        state.queued.shift();
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

  setHandler(
    targetDoneSignal,
    (done) => {
      const rec = state.recent.find((a) => a.requestId === done?.requestId);
      if (!rec || rec.finishedAt) return;
      rec.finishedAt = now();
      rec.ok = done.ok === true;
      if (state.inFlight?.requestId === done.requestId) state.inFlight = undefined;
      note(
        `${rec.kind} by ${describeRunbook(rec.requester)} finished ${rec.ok ? 'ok' : 'with a failure'}${done.note ? `: ${done.note}` : ''}`,
      );
      version++;
    },
    { description: 'A granted action finished (sent by the runbook that did it)' },
  );

  setHandler(targetLeaseStateQuery, () => state, {
    description: 'Holds, the action in flight, recent actions',
  });

  const prune = () => {
    const keepAfter = Date.now() - Math.max(policy.restartWindowMs, 60 * 60_000);
    state.recent = state.recent
      .filter((a) => a === state.inFlight || Date.parse(a.grantedAt) >= keepAfter)
      .slice(-50);
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
      state.holds.length === 0 && !state.inFlight && state.queued.length === 0 && state.recent.length === 0;
    if (!woke && idle) {
      await condition(allHandlersFinished);
      return state;
    }
    if (state.handled >= 500 || workflowInfo().continueAsNewSuggested) {
      await condition(() => allHandlersFinished() && state.queued.length === 0);
      await continueAsNew<typeof targetLease>({
        target: state.target,
        policy,
        carried: { holds: state.holds, inFlight: state.inFlight, recent: state.recent, log: state.log },
      });
    }
  }
}
