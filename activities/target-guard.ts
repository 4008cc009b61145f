/**
 * The runbooks' side of the target guard (workflows/target-guard.ts): ask it, through the worker's
 * own Temporal client, before acting on a shared target, and tell it when the action is done.
 * The guard's answer comes back as this activity's result, which no UI signal can forge.
 *
 * And the enforcement: `withGrantCheck` wraps every mutating activity (GUARDED_ACTIVITIES) so that
 * it acts only with a grant the guard confirms is live, of its kind, for the calling workflow.
 * The worker registers only the wrapped ones, so no workflow can act on a target past its guard.
 */
import { Context } from '@temporalio/activity';
import { QueryNotRegisteredError, QueryRejectedError, WorkflowNotFoundError } from '@temporalio/client';
import { WorkflowIdConflictPolicy } from '@temporalio/common';
import { stateQuery } from '../definitions/messages';
import {
  GUARDED_ACTIVITIES,
  TARGET_LEASE_WORKFLOW_TYPE,
  targetActionUpdate,
  targetDoneSignal,
  targetGrantQuery,
  targetLeaseWorkflowId,
  targetWouldGrantQuery,
  type GuardedActivity,
  type TargetDone,
  type TargetGrant,
  type TargetGrantStatus,
  type TargetLeaseInput,
  type TargetReply,
  type TargetRequest,
} from '../definitions/target-guard';
import { type TargetLeasePolicy } from '../definitions/policies/target-guard';
import { describeError, FailureType, nonRetryable, retryable } from '../definitions/errors';

export interface TargetGuardDeps {
  /** Overrides of the guard's policy (rate limit, lease), given when a target's guard starts. */
  policy?: Partial<TargetLeasePolicy>;
  /**
   * Tests of the guard's decision table only, with made-up requesters: skip `verifyRequester`.
   * Code sets it, never configuration: the worker never does.
   */
  trustRequesters?: boolean;
}

/** The runbooks' side: ask the target's guard for an action, and tell it the action is done. */
const createGuardRequestActivities = (deps: TargetGuardDeps) => ({
  /** Starts the target's guard if it is not running, then asks it; waits (heartbeating) for its turn. */
  async requestTargetAction(input: { request: TargetRequest }): Promise<TargetReply> {
    const ctx = Context.current();
    const client = ctx.client;
    const { target } = input.request;
    const workflowId = targetLeaseWorkflowId(target);
    const beat = setInterval(() => ctx.heartbeat({ waitingFor: workflowId }), 5_000);
    try {
      const args: [TargetLeaseInput] = [{ target, policy: deps.policy }];
      await client.workflow.start(TARGET_LEASE_WORKFLOW_TYPE, {
        taskQueue: ctx.info.taskQueue,
        workflowId,
        args,
        workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING,
        staticSummary: `Target guard: ${target}`,
        staticDetails:
          'Grants or refuses restarts, stops, starts and scaling of this target; keeps P0-4 holds.',
      });
      return await client.workflow
        .getHandle(workflowId)
        .executeUpdate(targetActionUpdate, { args: [input.request], updateId: input.request.requestId });
    } catch (err) {
      throw retryable(FailureType.DependencyUnavailable, `target guard ${workflowId}: ${describeError(err)}`);
    } finally {
      clearInterval(beat);
    }
  },

  /**
   * Dry runs: would the target's guard grant this request now? Asked by query (read-only: no lease,
   * no hold, no turn). A target whose guard is not running has no holds and no recent actions (a
   * guard ends only when idle), so the table grants it; that is said in the reason.
   */
  async wouldTargetGrant(input: { request: TargetRequest }): Promise<TargetReply> {
    const { request } = input;
    const workflowId = targetLeaseWorkflowId(request.target);
    try {
      return await Context.current()
        .client.workflow.getHandle(workflowId)
        .query(targetWouldGrantQuery, request);
    } catch (err) {
      if (err instanceof WorkflowNotFoundError)
        return {
          requestId: request.requestId,
          target: request.target,
          kind: request.kind,
          granted: true,
          reason: `no guard has run for ${request.target}: nothing holds it and no action on it is recorded; ${request.kind} would be granted`,
        };
      throw retryable(FailureType.DependencyUnavailable, `target guard ${workflowId}: ${describeError(err)}`);
    }
  },

  async reportTargetActionDone(input: { target: string; done: TargetDone }): Promise<void> {
    const handle = Context.current().client.workflow.getHandle(targetLeaseWorkflowId(input.target));
    try {
      await handle.signal(targetDoneSignal, input.done);
    } catch (err) {
      throw retryable(FailureType.DependencyUnavailable, `target guard: ${describeError(err)}`);
    }
  },
});

/**
 * The guard's checks read a workflow's own state, and act on a "no" (refuse a request, ignore a
 * report, keep a hold). Only an answer about that workflow is a "no": no such workflow, or one with
 * no incident state. Anything else (Temporal unavailable, a query that timed out) says nothing about
 * it and is thrown as retryable, so the check is tried again: a hiccup must not refuse a real
 * incident's restart (a refusal is final for that request) or leave a finished action on the target.
 */
function answeredNo(workflowId: string, err: unknown): void {
  if (
    err instanceof WorkflowNotFoundError ||
    err instanceof QueryNotRegisteredError ||
    err instanceof QueryRejectedError
  )
    return;
  throw retryable(
    FailureType.DependencyUnavailable,
    `cannot read ${workflowId}'s state: ${describeError(err)}`,
  );
}

/** The guard's side: what it is told, checked against the requesting incident's own state. */
const createGuardCheckActivities = (deps: TargetGuardDeps) => ({
  /**
   * For the guard: is the requester a running incident of this runbook on this target? Anyone who
   * can open the UI can send the guard an update naming any workflow as its requester; a request
   * that names no such incident (or a hold asked for by anything but P0-4) is refused before it can
   * take a hold or occupy the target.
   */
  async verifyRequester(input: {
    target: string;
    kind: string;
    requestId: string;
    requester: { workflowId: string; incidentId: string; runbook: string };
  }): Promise<{ ok: boolean; detail: string }> {
    const { requester } = input;
    if (deps.trustRequesters) return { ok: true, detail: 'requesters trusted (a test of the table)' };
    if (input.kind === 'hold' && requester.runbook !== 'P0-4')
      return { ok: false, detail: `only a P0-4 incident may hold a target (asked by ${requester.runbook})` };
    const handle = Context.current().client.workflow.getHandle(requester.workflowId);
    try {
      const d = await handle.describe();
      if (d.status.name !== 'RUNNING')
        return { ok: false, detail: `${requester.workflowId} is ${d.status.name.toLowerCase()}` };
      const s = await handle.query(stateQuery);
      const same =
        s.target === input.target && s.runbook === requester.runbook && s.incidentId === requester.incidentId;
      if (!same)
        return {
          ok: false,
          detail: `${requester.workflowId} is not the ${requester.runbook} incident ${requester.incidentId} on ${input.target}`,
        };
      // A real incident named by someone else: it must have asked for exactly this itself.
      const asked = (s.guardRequests ?? []).find((r) => r.requestId === input.requestId);
      return asked && !asked.finishedAt && asked.kind === input.kind && asked.target === input.target
        ? { ok: true, detail: `${requester.runbook} incident ${requester.incidentId} on ${input.target}` }
        : {
            ok: false,
            detail: `${requester.workflowId} did not ask for this ${input.kind} (request ${input.requestId})`,
          };
    } catch (err) {
      answeredNo(requester.workflowId, err);
      const why = describeError(err);
      return { ok: false, detail: `${requester.workflowId} is not a running incident (${why})` };
    }
  },

  /**
   * For the guard, on a report that a granted action finished: does the requester's own state say
   * so? The report is a signal anyone who can open the UI can send, naming any live grant; believed,
   * it would free the target under a running restart or void the grant of the action in progress.
   */
  async confirmActionDone(input: {
    requesterWorkflowId: string;
    requestId: string;
  }): Promise<{ finished: boolean; ok?: boolean; detail: string }> {
    if (deps.trustRequesters) return { finished: true, detail: 'requesters trusted (tests of the table)' };
    const handle = Context.current().client.workflow.getHandle(input.requesterWorkflowId);
    try {
      const state = await handle.query(stateQuery);
      const r = (state.guardRequests ?? []).find((x) => x.requestId === input.requestId);
      return r?.finishedAt
        ? {
            finished: true,
            ok: r.ok,
            detail: `finished ${r.ok ? 'ok' : 'with a failure'} at ${r.finishedAt}`,
          }
        : { finished: false, detail: 'its incident does not record it as finished' };
    } catch (err) {
      answeredNo(input.requesterWorkflowId, err);
      return { finished: false, detail: `cannot read the requester's state: ${describeError(err)}` };
    }
  },

  /** For the guard: has this holder an accepted approval? Read from the holder's own state. */
  async holderApproval(input: { holderWorkflowId: string }): Promise<{ approved: boolean; detail: string }> {
    const handle = Context.current().client.workflow.getHandle(input.holderWorkflowId);
    try {
      const state = await handle.query(stateQuery);
      const approved = (state.approvals ?? []).filter((g) => g.status === 'approved');
      if (approved.length === 0) return { approved: false, detail: 'no gate of that incident is approved' };
      return {
        approved: true,
        detail: approved
          .map(
            (g) =>
              `${g.gate} approved by ${g.approvedBy.map((a) => `${a.approver} (${a.roles.join('/')})`).join(', ')}`,
          )
          .join('; '),
      };
    } catch (err) {
      answeredNo(input.holderWorkflowId, err);
      return { approved: false, detail: `cannot read the holder's state: ${describeError(err)}` };
    }
  },
});

export const createTargetGuardActivities = (deps: TargetGuardDeps = {}) => ({
  ...createGuardRequestActivities(deps),
  ...createGuardCheckActivities(deps),
});

/** The target an activity's own input names, where it names one: it must be the grant's target. */
const TARGET_IN_INPUT: Partial<Record<GuardedActivity, (input: Record<string, unknown>) => unknown>> = {
  restartContainer: (i) => i.container,
  stopContainer: (i) => i.container,
  startContainer: (i) => i.container,
  // A scale-up clones its template (default: the target): the grant must be for the app cloned.
  scaleWorkersUp: (i) => i.template ?? i.target,
  scaleWorkersDown: (i) => i.target,
};

/**
 * Throws ACTION_REFUSED (not retried) unless `grant` is a live grant of the guard of its target, of
 * this activity's kind, given to the workflow this activity runs for. A guard that cannot be asked
 * is retried (DEPENDENCY_UNAVAILABLE): nothing is done meanwhile.
 */
export async function confirmGrant(activity: GuardedActivity, input: unknown): Promise<TargetGrantStatus> {
  const kind = GUARDED_ACTIVITIES[activity];
  const refuse = (why: string) =>
    nonRetryable(FailureType.ActionRefused, `${activity} refused: ${why}; nothing was done`);
  const fields = (input ?? {}) as Record<string, unknown>;
  const grant = fields.grant as Partial<TargetGrant> | undefined;
  if (!grant || typeof grant.requestId !== 'string' || typeof grant.target !== 'string')
    throw refuse(`no grant from the target guard (every ${kind} goes through it)`);
  if (grant.kind !== kind) throw refuse(`the grant is for ${String(grant.kind)}, not ${kind}`);
  const named = TARGET_IN_INPUT[activity]?.(fields);
  if (named !== undefined && named !== grant.target)
    throw refuse(`the grant is for ${grant.target}, not ${JSON.stringify(named)}`);
  let client: Context['client'];
  let caller: string | undefined;
  try {
    const ctx = Context.current();
    caller = ctx.info.workflowExecution?.workflowId;
    client = ctx.client;
  } catch {
    throw refuse('not run as an activity of a workflow (no activity context or Temporal client)');
  }
  if (!caller) throw refuse('not run for a workflow');
  let status: TargetGrantStatus | null;
  try {
    status = await client.workflow
      .getHandle(targetLeaseWorkflowId(grant.target))
      .query(targetGrantQuery, grant.requestId);
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) throw refuse(`no target guard has run for ${grant.target}`);
    throw retryable(
      FailureType.DependencyUnavailable,
      `target guard of ${grant.target}: ${describeError(err)}`,
    );
  }
  if (!status) throw refuse(`the guard of ${grant.target} never granted ${grant.requestId}`);
  if (status.kind !== kind) throw refuse(`the guard granted ${status.kind}, not ${kind}`);
  if (status.requester.workflowId !== caller)
    throw refuse(`the grant belongs to workflow ${status.requester.workflowId}, not ${caller}`);
  if (!status.live || Date.parse(status.expiresAt) <= Date.now())
    throw refuse(
      status.finishedAt
        ? `the grant ended at ${status.finishedAt}`
        : `the grant expired at ${status.expiresAt}`,
    );
  return status;
}

/** A guarded activity's input: its own, plus the grant it acts under. */
export type WithGrants<A> = {
  [K in keyof A]: K extends GuardedActivity
    ? A[K] extends (input: infer I) => infer R
      ? (input: I & { grant: TargetGrant }) => R
      : never
    : A[K];
};

/** The same activities, each mutating one refusing to act without a live grant (confirmGrant). */
export function withGrantCheck<A extends object>(activities: A): WithGrants<A> {
  const wrapped = { ...activities } as Record<string, unknown>;
  for (const name of Object.keys(GUARDED_ACTIVITIES) as GuardedActivity[]) {
    const fn = (activities as Record<string, unknown>)[name] as
      ((input: Record<string, unknown>) => Promise<unknown>) | undefined;
    if (!fn) throw new Error(`guarded activity ${name} is missing`);
    wrapped[name] = async (input: Record<string, unknown>) => {
      await confirmGrant(name, input);
      const { grant: _grant, ...own } = input;
      return fn(own);
    };
  }
  return wrapped as WithGrants<A>;
}
