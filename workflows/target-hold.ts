/**
 * P0-4's hold on its target, through the target's guard (guarded-actions.ts asks it): taken before
 * the system is stopped and kept until the approval, so that no other runbook restarts or starts
 * what P0-4 stopped; released only once the incident has an accepted approval (the guard checks).
 * Both are retried until the guard agrees, escalating the first time it does not.
 */
import { condition } from '@temporalio/workflow';
import { askTargetGuard } from './guarded-actions';
import type { Incident } from './incident';
import type { TargetReply } from '../definitions/target-guard';

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

/**
 * Takes the hold and keeps asking until the guard grants it: the caller must not act as if held
 * before (an unheld target can be restarted by any other runbook). The first refusal escalates, and
 * so does a guard that has not answered within `escalateAfterMs` (the holder keeps waiting).
 * False only when a person closed the incident meanwhile.
 */
export async function holdTargetUntilGranted(
  inc: Incident,
  target: string,
  reason: string,
  tier: string,
  escalateAfterMs: number,
): Promise<boolean> {
  let escalated = false;
  for (let attempt = 0; ; attempt++) {
    let reply: TargetReply | undefined;
    const asking = holdTarget(inc, target, reason).then((r) => (reply = r));
    // A guard that does not answer (it may wait for a worker) is as bad as a refusal: say so early.
    if (!escalated && !(await condition(() => reply !== undefined, escalateAfterMs))) {
      escalated = true;
      await inc.escalate(
        `${target} is NOT held yet: its target guard has not answered in ${escalateAfterMs / 1000} s; ${target} is not stopped until it does`,
        tier,
      );
    }
    await asking;
    if (reply!.granted) return true;
    if (!escalated) {
      escalated = true;
      await inc.escalate(`${target} could NOT be held (${reply!.reason}); still trying`, tier);
    }
    if (inc.closedByHuman) return false;
    await inc.waitFor(inc.recheckDelay(attempt), `Wait, then ask the target guard to hold ${target} again`);
  }
}

/**
 * Releases this incident's hold, retrying until the guard accepts: a hold is never left on
 * silently. Each refusal shows in `checks.targetHold`; the first one escalates. False only when a
 * person closed the incident meanwhile (the hold then stays, recorded).
 */
export async function releaseTargetUntilDone(
  inc: Incident,
  target: string,
  reason: string,
  tier: string,
): Promise<boolean> {
  for (let attempt = 0; ; attempt++) {
    const reply = await releaseTarget(inc, target, reason);
    if (reply.granted) return true;
    if (attempt === 0)
      await inc.escalate(`The hold on ${target} could NOT be released (${reply.reason}); still trying`, tier);
    if (inc.closedByHuman) {
      inc.decide(`Closed by a person while the hold on ${target} could not be released: it stays held`);
      return false;
    }
    await inc.waitFor(
      inc.recheckDelay(attempt),
      `Wait, then ask the target guard to release ${target} again`,
    );
  }
}
