/**
 * Every mutating action on a shared target (restart, stop, start, scale) goes through here, and
 * from here through the target's guard workflow (target-lease.ts), so the cross-runbook rules
 * live in one place:
 *   - while P0-4 holds the target stopped, nobody else may start, restart, stop or scale it; the
 *     refusal names the holding incident, in the step, in `checks.targetGuard`, and in whatever
 *     the runbook notifies (it escalates with `refusedBecause`);
 *   - two runbooks never act on one target at once (the guard serializes them), and a restart
 *     asked for while another runbook's restart ran is covered by it instead of repeated;
 *   - restarts of one target are rate-limited across runbooks: a crash loop is refused, so the
 *     runbook escalates instead of restarting forever.
 * If the guard cannot be reached, nothing is done (fail closed) and the runbook is told why.
 */
import { proxyActivities, uuid4, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../activities';
import { actions } from './activity-proxies';
import { failureText, Incident, withSummary } from './incident';
import type { TargetActionKind, TargetReply } from './target-lease';

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
}

export type RestartOutcome = { done: true; alreadyDone: boolean } | { done: false; refusedBecause: string };

export interface GuardedOptions {
  /** Step name in the incident state (e.g. "restart", "stop-api"). */
  name: string;
  title: string;
  reason: string;
}

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
): Promise<TargetReply> {
  const requestId = uuid4();
  try {
    return await guard.requestTargetAction.executeWithOptions(
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
          },
        },
      ],
    );
  } catch (err) {
    return {
      requestId,
      target,
      kind,
      granted: false,
      reason: `the target guard did not answer (${failureText(err)}); not acting on ${target} without it`,
    };
  }
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
 * Runs one mutating action on a shared target once its guard grants it, as one recorded step.
 * A refusal is recorded as a skipped step and in `checks.targetGuard`; an action failure is
 * recorded and rethrown (after telling the guard).
 */
export async function guardedAction<T>(
  inc: Incident,
  target: string,
  kind: Exclude<TargetActionKind, 'hold' | 'release-hold'>,
  opts: GuardedOptions,
  act: () => Promise<T>,
  describe: (r: T) => string,
): Promise<GuardedOutcome<T>> {
  const reply = await askTargetGuard(inc, target, kind, opts.reason);
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
  try {
    const result = await inc.step(opts.name, opts.title, act, describe);
    await reportDone(target, reply.requestId, true);
    return { done: true, result };
  } catch (err) {
    await reportDone(target, reply.requestId, false, failureText(err));
    throw err;
  }
}

/** Restarts the target container as one recorded step, if its guard allows. A failure is recorded and rethrown. */
export async function restartTarget(
  inc: Incident,
  target: string,
  opts: RestartOptions,
): Promise<RestartOutcome> {
  const decidedAt = new Date().toISOString();
  const out = await guardedAction(
    inc,
    target,
    'restart',
    { name: 'restart', title: opts.title, reason: opts.reason },
    () =>
      withSummary(actions.restartContainer, `Restart container ${target}`, {
        container: target,
        decidedAt,
        reason: opts.reason,
        stopTimeoutSec: opts.stopTimeoutSec,
      }),
    (res) =>
      res.alreadyDone
        ? 'already restarted by an earlier attempt'
        : `restarted; container ${res.state.status}`,
  );
  if (!out.done) return { done: false, refusedBecause: out.refusedBecause };
  return { done: true, alreadyDone: out.coveredBy !== undefined || out.result.alreadyDone };
}

/** `docker stop` through the guard (P0-4 stops the API it holds). */
export function stopTarget(inc: Incident, target: string, opts: RestartOptions & { name?: string }) {
  const decidedAt = new Date().toISOString();
  return guardedAction(
    inc,
    target,
    'stop',
    { name: opts.name ?? 'stop', title: opts.title, reason: opts.reason },
    () =>
      withSummary(actions.stopContainer, `Stop container ${target}`, {
        container: target,
        decidedAt,
        reason: opts.reason,
        stopTimeoutSec: opts.stopTimeoutSec,
      }),
    (r) =>
      r.alreadyDone ? `was already stopped (${r.state.status})` : `stopped; container ${r.state.status}`,
  );
}

/** `docker start` through the guard. */
export function startTarget(
  inc: Incident,
  target: string,
  opts: { title: string; reason: string; name?: string },
) {
  const decidedAt = new Date().toISOString();
  return guardedAction(
    inc,
    target,
    'start',
    { name: opts.name ?? 'start', title: opts.title, reason: opts.reason },
    () =>
      withSummary(actions.startContainer, `Start container ${target}`, {
        container: target,
        decidedAt,
        reason: opts.reason,
      }),
    (r) =>
      r.alreadyDone ? `was already running (${r.state.status})` : `started; container ${r.state.status}`,
  );
}

/** Takes a hold on the target: from now on only this incident may act on it (P0-4). */
export async function holdTarget(inc: Incident, target: string, reason: string): Promise<TargetReply> {
  const reply = await askTargetGuard(inc, target, 'hold', reason);
  inc.state.checks.targetHold = {
    target,
    held: reply.granted,
    reason: reply.reason,
    at: new Date().toISOString(),
  };
  inc.decide(
    reply.granted ? `Holding ${target}: ${reply.reason}` : `Could not hold ${target}: ${reply.reason}`,
  );
  return reply;
}

/** Releases this incident's hold; the guard accepts it only once this incident has an accepted approval. */
export async function releaseTarget(inc: Incident, target: string, reason: string): Promise<TargetReply> {
  const reply = await askTargetGuard(inc, target, 'release-hold', reason);
  inc.state.checks.targetHold = {
    target,
    held: !reply.granted,
    reason: reply.reason,
    at: new Date().toISOString(),
  };
  inc.decide(
    reply.granted ? `Released ${target}: ${reply.reason}` : `Hold on ${target} kept: ${reply.reason}`,
  );
  return reply;
}
