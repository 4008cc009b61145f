/**
 * Every mutating action on a shared target (restart, stop, start, scale up/down, the billing and
 * pause flags, refunds, query and session kills) goes through here, and from here through the
 * target's guard workflow (target-guard.ts), which decides from one table (TARGET_ACTION_RULES in definitions/target-guard.ts):
 *   - while P0-4 holds the target, nobody else may do what the table says a hold blocks; the
 *     refusal names the holding incident, in the step, in `checks.targetGuard`, and in whatever
 *     the runbook notifies (it escalates with `refusedBecause`);
 *   - exclusive actions never run at once on one target (the guard serializes them), and a restart
 *     asked for while another runbook's restart ran is covered by it instead of repeated;
 *   - restarts of one target are rate-limited across runbooks: a crash loop is refused, so the
 *     runbook escalates instead of restarting forever.
 * If the guard cannot be reached, nothing is done (fail closed) and the runbook is told why.
 * This is the only workflow module that names a mutating activity (lint: eslint.config.mjs), and
 * the activities refuse without the grant handed to them here (activities/target-guard.ts).
 */
import { proxyActivities, uuid4, workflowInfo, type ActivityInterfaceFor } from '@temporalio/workflow';
import type { Activities } from '../activities';
import { actions, checks } from './activity-proxies';
import { ASSUMED_RESULTS } from './assumed-results';
import { failureText, Incident } from './incident';
import type { GuardRequestRecord } from '../definitions/types';
import {
  GUARDED_ACTIVITIES,
  type GuardedActionKind,
  type GuardedActivity,
  type TargetActionKind,
  type TargetGrant,
  type TargetReply,
  type TargetRequest,
} from '../definitions/target-guard';

/**
 * Asking the guard may wait behind another runbook's action (up to its lease), heartbeating.
 * Asking twice is safe: the request ID is also the update ID.
 */
const guard = proxyActivities<Activities>({
  startToCloseTimeout: '30 minutes',
  heartbeatTimeout: '30 seconds',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s', maximumAttempts: 5 },
});

export interface RestartOptions {
  title: string;
  reason: string;
  stopTimeoutSec: number;
  /** The restart makes the app read a change just made: an earlier restart does not stand in for it. */
  afterChange?: boolean;
}

export type RestartOutcome = { done: true; alreadyDone: boolean } | { done: false; refusedBecause: string };

export interface GuardedOptions {
  /** Step name in the incident state (e.g. "restart", "stop-api"). */
  name: string;
  title: string;
  reason: string;
  /** The activity's summary, and (dry runs) what it would be handed: shown in the plan. */
  summary?: string;
  inputs?: Record<string, unknown>;
  /** What the guard is told beyond kind and reason (a restart that must follow a change). */
  request?: GuardRequestExtras;
}

/** A request's optional fields, as the runbook step gives them. */
export type GuardRequestExtras = Pick<TargetRequest, 'afterChange'>;

export type GuardedOutcome<T> =
  | { done: true; result: T; coveredBy?: undefined }
  | { done: true; result?: undefined; coveredBy: string }
  | { done: false; refusedBecause: string; heldBy?: TargetReply['heldBy'] };

/** Asks the target's guard; a guard that cannot answer is a refusal (never act without it). */
export async function askTargetGuard(
  inc: Incident,
  target: string,
  kind: TargetActionKind,
  reason: string,
  extras: GuardRequestExtras = {},
): Promise<TargetReply> {
  if (inc.rehearsal) return wouldGrant(inc, target, kind, reason, extras);
  const requestId = uuid4();
  // Recorded before asking: the guard checks the request against this incident's own state.
  const asked: GuardRequestRecord = { requestId, target, kind, askedAt: new Date().toISOString() };
  const requests = (inc.state.guardRequests ??= []);
  requests.push(asked);
  const finishedOnes = requests.filter((r) => r.finishedAt);
  if (requests.length > 20 && finishedOnes.length) requests.splice(requests.indexOf(finishedOnes[0]), 1);
  try {
    const reply = await guard.requestTargetAction.executeWithOptions(
      { summary: `Ask the target guard: ${kind} ${target}` },
      [
        {
          request: {
            requestId,
            target,
            kind,
            requester: {
              workflowId: workflowInfo().workflowId,
              incidentId: inc.state.incidentId,
              runbook: inc.state.runbook,
            },
            reason,
            decidedAt: new Date().toISOString(),
            ...extras,
          },
        },
      ],
    );
    if (!reply.granted) finishRequest(inc, requestId, false);
    return reply;
  } catch (err) {
    finishRequest(inc, requestId, false);
    return {
      requestId,
      target,
      kind,
      granted: false,
      reason: `the target guard did not answer (${failureText(err)}); not acting on ${target} without it`,
    };
  }
}

/**
 * A dry run asks the guard read-only (`wouldGrant`): no lease, no hold, no turn, nothing recorded in
 * `guardRequests` (the guard would refuse a real request it finds there unfinished). Holds and
 * releases change nothing the runbook reads next, so they are planned here and the run goes on.
 */
async function wouldGrant(
  inc: Incident,
  target: string,
  kind: TargetActionKind,
  reason: string,
  extras: GuardRequestExtras,
): Promise<TargetReply> {
  const requester = {
    workflowId: workflowInfo().workflowId,
    incidentId: inc.state.incidentId,
    runbook: inc.state.runbook,
  };
  const request = {
    requestId: uuid4(),
    target,
    kind,
    requester,
    reason,
    decidedAt: new Date().toISOString(),
    ...extras,
  };
  let reply: TargetReply;
  try {
    reply = await checks.wouldTargetGrant.executeWithOptions(
      { summary: `Dry run: would the target guard grant ${kind} ${target}?` },
      [{ request }],
    );
  } catch (err) {
    reply = { ...request, granted: false, reason: `the target guard did not answer (${failureText(err)})` };
  }
  if (kind === 'hold' || kind === 'release-hold') {
    inc.rehearsal!.plan(inc.state, {
      kind,
      action: `${kind === 'hold' ? 'Hold' : 'Release the hold on'} ${target}`,
      target,
      inputs: { reason },
      guard: { wouldGrant: reply.granted, reason: reply.reason },
    });
  }
  return reply;
}

/** The action of this request ended (or never began): the guard may now believe a report of it. */
function finishRequest(inc: Incident, requestId: string, ok: boolean): void {
  const r = inc.state.guardRequests?.find((x) => x.requestId === requestId);
  if (r && !r.finishedAt) Object.assign(r, { finishedAt: new Date().toISOString(), ok });
}

async function reportDone(target: string, requestId: string, ok: boolean, note?: string): Promise<void> {
  try {
    await actions.reportTargetActionDone.executeWithOptions({ summary: `Tell the target guard: done` }, [
      { target, done: { requestId, ok, note } },
    ]);
  } catch {
    // The guard's lease on the action runs out by itself.
  }
}

/**
 * Runs one mutating action on a shared target once its guard grants it, as one recorded step; the
 * action gets the grant (its activity checks it with the guard). A refusal is recorded as a
 * skipped step and in `checks.targetGuard`; an action failure is recorded and rethrown (after
 * telling the guard). In a dry run the granted action is planned and `assumed` stands for its result.
 */
async function guardedAction<T>(
  inc: Incident,
  target: string,
  kind: GuardedActionKind,
  opts: GuardedOptions & { assumed: () => T },
  act: (grant: TargetGrant) => Promise<T>,
  describe: (r: T) => string,
): Promise<GuardedOutcome<T>> {
  const reply = await askTargetGuard(inc, target, kind, opts.reason, opts.request);
  inc.state.checks.targetGuard = {
    at: new Date().toISOString(),
    kind,
    granted: reply.granted,
    reason: reply.reason,
    heldBy: reply.heldBy
      ? { incidentId: reply.heldBy.holder.incidentId, runbook: reply.heldBy.holder.runbook }
      : undefined,
  };
  if (!reply.granted) {
    if (reply.coveredBy) {
      inc.skip(opts.name, opts.title, `not repeated: ${reply.reason}`);
      inc.refresh();
      return { done: true, coveredBy: reply.reason };
    }
    inc.skip(opts.name, opts.title, `refused by the target guard: ${reply.reason}`);
    inc.refresh();
    return { done: false, refusedBecause: reply.reason, heldBy: reply.heldBy };
  }
  if (inc.rehearsal) return plannedAction(inc, target, kind, opts, reply);
  const grant: TargetGrant = { requestId: reply.requestId, target, kind };
  try {
    const result = await inc.step(opts.name, opts.title, () => act(grant), describe);
    // Done is no longer failing, from the same moment the step shows done (before telling the guard).
    delete inc.state.failing[opts.name];
    finishRequest(inc, reply.requestId, true);
    await reportDone(target, reply.requestId, true);
    return { done: true, result };
  } catch (err) {
    finishRequest(inc, reply.requestId, false);
    await reportDone(target, reply.requestId, false, failureText(err));
    throw err;
  }
}

/**
 * A dry run, where the guard would grant the action: planned as a "would ..." step, and the run
 * goes on as if it had worked (`assumed`: what the activity returns then; dry-run.ts says why).
 */
function plannedAction<T>(
  inc: Incident,
  target: string,
  kind: GuardedActionKind,
  opts: GuardedOptions & { assumed: () => T },
  reply: TargetReply,
): GuardedOutcome<T> {
  const action = opts.summary ?? opts.title;
  const rehearsal = inc.rehearsal!;
  rehearsal.plan(inc.state, {
    kind,
    action,
    target,
    inputs: { ...opts.inputs, reason: opts.reason },
    guard: { wouldGrant: true, reason: reply.reason },
  });
  inc.skip(opts.name, opts.title, `dry run: would ${kind} (${action}); the target guard would grant it`);
  rehearsal.acted = true;
  delete inc.state.failing[opts.name];
  return { done: true, result: opts.assumed() };
}

type ActivityInput<N extends GuardedActivity> = Omit<Parameters<Activities[N]>[0], 'grant'>;
type ActivityResult<N extends GuardedActivity> = Awaited<ReturnType<Activities[N]>>;

export interface GuardedStep<T> extends GuardedOptions {
  /** The activity's summary in the history ("SET forecast:paused 1"). */
  summary: string;
  describe: (r: T) => string;
  /** Another proxy (retry level) for the activity than the shared `actions`. */
  via?: ActivityInterfaceFor<Activities>;
}

/**
 * The mutating activity `activity` with `input`, through the guard (guardedAction), as one step.
 * The guarded action is the activity's own (GUARDED_ACTIVITIES: setFlag is a pause-flag action).
 */
export function guardedStep<N extends GuardedActivity>(
  inc: Incident,
  target: string,
  activity: N,
  step: GuardedStep<ActivityResult<N>>,
  input: ActivityInput<N>,
): Promise<GuardedOutcome<ActivityResult<N>>> {
  const fn = (step.via ?? actions)[activity] as unknown as {
    executeWithOptions(o: { summary: string }, args: [unknown]): Promise<ActivityResult<N>>;
  };
  return guardedAction(
    inc,
    target,
    GUARDED_ACTIVITIES[activity],
    // The inputs and the assumed result serve a dry run's plan only (plannedAction).
    {
      ...step,
      inputs: input as Record<string, unknown>,
      assumed: () => ASSUMED_RESULTS[activity](input as never),
    },
    (grant) => fn.executeWithOptions({ summary: step.summary }, [{ ...input, grant }]),
    step.describe,
  );
}

/**
 * Like `inc.check`, through the guard: the result, or undefined when the guard refused or the
 * activity failed; either is recorded in `failing` under the step's name, so the runbook can go on
 * and try again later.
 */
export async function guardedCheck<N extends GuardedActivity>(
  inc: Incident,
  target: string,
  activity: N,
  step: GuardedStep<ActivityResult<N>>,
  input: ActivityInput<N>,
): Promise<ActivityResult<N> | undefined> {
  try {
    const out = await guardedStep(inc, target, activity, step, input);
    if (!out.done) {
      inc.state.failing[step.name] = `refused by the target guard: ${out.refusedBecause}`;
      return undefined;
    }
    delete inc.state.failing[step.name];
    return out.result;
  } catch (err) {
    inc.state.failing[step.name] = failureText(err);
    return undefined;
  }
}

/** Restarts the target container as one recorded step, if its guard allows. A failure is recorded and rethrown. */
export async function restartTarget(
  inc: Incident,
  target: string,
  opts: RestartOptions,
): Promise<RestartOutcome> {
  const decidedAt = new Date().toISOString();
  const out = await guardedStep(
    inc,
    target,
    'restartContainer',
    {
      name: 'restart',
      title: opts.title,
      reason: opts.reason,
      summary: `Restart container ${target}`,
      request: opts.afterChange ? { afterChange: true } : undefined,
      describe: (res) =>
        res.alreadyDone
          ? 'already restarted by an earlier attempt'
          : `restarted; container ${res.state.status}`,
    },
    { container: target, decidedAt, reason: opts.reason, stopTimeoutSec: opts.stopTimeoutSec },
  );
  if (!out.done) return { done: false, refusedBecause: out.refusedBecause };
  return { done: true, alreadyDone: out.coveredBy !== undefined || out.result.alreadyDone };
}

/** How the step list says a stop or a start: its step name, its verb, and what it found. */
const CONTAINER_STEPS = {
  stopContainer: { name: 'stop', verb: 'Stop', done: 'stopped', already: 'was already stopped' },
  startContainer: { name: 'start', verb: 'Start', done: 'started', already: 'was already running' },
} as const;

/** `docker stop` or `docker start` through the guard, as one step (P0-4 stops the API it holds). */
function containerStep(
  inc: Incident,
  target: string,
  activity: keyof typeof CONTAINER_STEPS,
  opts: { title: string; reason: string; name?: string; stopTimeoutSec?: number },
) {
  const words = CONTAINER_STEPS[activity];
  const decidedAt = new Date().toISOString();
  return guardedStep(
    inc,
    target,
    activity,
    {
      name: opts.name ?? words.name,
      title: opts.title,
      reason: opts.reason,
      summary: `${words.verb} container ${target}`,
      describe: (r) =>
        r.alreadyDone ? `${words.already} (${r.state.status})` : `${words.done}; container ${r.state.status}`,
    },
    {
      container: target,
      decidedAt,
      reason: opts.reason,
      ...(activity === 'stopContainer' ? { stopTimeoutSec: opts.stopTimeoutSec } : {}),
    },
  );
}

/** `docker stop` through the guard (P0-4 stops the API it holds). */
export const stopTarget = (inc: Incident, target: string, opts: RestartOptions & { name?: string }) =>
  containerStep(inc, target, 'stopContainer', opts);

/** `docker start` through the guard. */
export const startTarget = (
  inc: Incident,
  target: string,
  opts: { title: string; reason: string; name?: string },
) => containerStep(inc, target, 'startContainer', opts);
