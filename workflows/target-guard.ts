/**
 * Every mutating action on a shared target (restart, stop, start, scale) goes through here, so
 * cross-runbook rules live in one place. Today: the restart itself, recorded as a step.
 */
import { actions } from './activity-proxies';
import { Incident, withSummary } from './incident';

export interface RestartOptions {
  title: string;
  reason: string;
  stopTimeoutSec: number;
}

export type RestartOutcome = { done: true; alreadyDone: boolean } | { done: false; refusedBecause: string };

/** Restarts the target container as one recorded step. A failure is recorded and rethrown. */
export async function restartTarget(
  inc: Incident,
  target: string,
  opts: RestartOptions,
): Promise<RestartOutcome> {
  const r = await inc.step(
    'restart',
    opts.title,
    () =>
      withSummary(actions.restartContainer, `Restart container ${target}`, {
        container: target,
        decidedAt: new Date().toISOString(),
        reason: opts.reason,
        stopTimeoutSec: opts.stopTimeoutSec,
      }),
    (res) =>
      res.alreadyDone
        ? 'already restarted by an earlier attempt'
        : `restarted; container ${res.state.status}`,
  );
  return { done: true, alreadyDone: r.alreadyDone };
}
