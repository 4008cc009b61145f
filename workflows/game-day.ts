/**
 * A game day (issue 23), started by its Temporal Schedule (`runbooks gameday create`) or by hand:
 *   1. preflight: the target is a game-day target of the worker, says it is that sandbox, is
 *      healthy, has no open incident of the runbook and the fault's alert is quiet;
 *   2. inject the fault (the time just before it is the game day's zero);
 *   3. detection does the rest: the alert path (Prometheus → Alertmanager → intake) starts the
 *      runbook; the game day finds that incident (visibility: runbook, target, started after 2.);
 *   4. wait for the incident to close (with `killWorkerAt`, kill a worker when the incident has
 *      started that step), take the fault off the target;
 *   5. score it: detect, first action, resolve against the MTTR target, approvals, escalations.
 * The score is the workflow's result (`runbooks gameday results`). Nothing here acts on the
 * incident: the team and the runbook are what is being measured.
 */
import {
  ActivityFailure,
  ApplicationFailure,
  proxyActivities,
  TimeoutFailure,
  workflowInfo,
} from '@temporalio/workflow';
import type { GameDayActivities } from '../activities/game-day';
import { RUNBOOKS } from '../definitions/catalog';
import {
  DEFAULT_DETECT_TIMEOUT_MS,
  gameDayInputProblem,
  scoreGameDay,
  type GameDayIncident,
  type GameDayInput,
  type GameDayScore,
  type GameDayWorkerKill,
} from '../definitions/game-day';
import { MTTR_TARGET_MS } from '../definitions/policies/common';

/** How long the preflight waits for an earlier fault to fade before it refuses. */
const QUIET_TIMEOUT_MS = 3 * 60_000;
const nonRetryableErrorTypes = ['ACTION_REFUSED', 'INVALID_INPUT'];

export async function gameDay(input: GameDayInput): Promise<GameDayScore> {
  const problem = gameDayInputProblem(input);
  if (problem) throw ApplicationFailure.nonRetryable(`game day refused: ${problem}`, 'INVALID_INPUT');
  const detectTimeoutMs = input.detectTimeoutMs ?? DEFAULT_DETECT_TIMEOUT_MS;
  const resolveTimeoutMs = input.resolveTimeoutMs ?? 2 * MTTR_TARGET_MS[RUNBOOKS[input.runbook].severity];

  const preflight = proxyActivities<GameDayActivities>({
    startToCloseTimeout: QUIET_TIMEOUT_MS + 60_000,
    heartbeatTimeout: '30 seconds',
    retry: { maximumAttempts: 3, nonRetryableErrorTypes },
  });
  // One attempt: a retry after a lost answer would be a second fault.
  const inject = proxyActivities<GameDayActivities>({
    startToCloseTimeout: '1 minute',
    retry: { maximumAttempts: 1 },
  });
  const follow = proxyActivities<GameDayActivities>({
    startToCloseTimeout: Math.max(detectTimeoutMs, resolveTimeoutMs) + 5 * 60_000,
    heartbeatTimeout: '1 minute',
    retry: { initialInterval: '2s', maximumAttempts: 5, nonRetryableErrorTypes },
  });

  await preflight.gameDayPreflight({ ...input, quietTimeoutMs: QUIET_TIMEOUT_MS });
  const { injectedAt } = await inject.injectGameDayFault(input);
  let incident: GameDayIncident | undefined;
  let cleared = false;
  let workerKill: GameDayWorkerKill | undefined;
  try {
    const found = await follow.findGameDayIncident({
      runbook: input.runbook,
      target: input.target,
      after: injectedAt,
      timeoutMs: detectTimeoutMs,
    });
    if (found) {
      [incident, workerKill] = await Promise.all([
        follow.awaitGameDayIncident({ ...found, timeoutMs: resolveTimeoutMs }),
        input.killWorkerAt ? killWorkerAt(follow, input.killWorkerAt, found, resolveTimeoutMs) : undefined,
      ]);
    }
  } finally {
    // The fault's TTL would end it anyway; a game day leaves the target as it found it sooner.
    cleared = (await follow.clearGameDayFault(input)).cleared;
  }
  const score = scoreGameDay(workflowInfo().workflowId, input, injectedAt, incident);
  return { ...score, ...(workerKill ? { workerKill } : {}), faultCleared: cleared };
}

// One attempt, a short heartbeat: the worker it runs on dies, and a retry would kill a second one.
const kill = proxyActivities<GameDayActivities>({
  startToCloseTimeout: '1 minute',
  heartbeatTimeout: '5 seconds',
  retry: { maximumAttempts: 1 },
});

/**
 * Kills a worker once the incident has started `step`: the worker that takes the kill activity
 * kills itself (only a worker with GAMEDAY_WORKER_KILL does). Its heartbeat named it; the timeout
 * that follows carries that heartbeat, which is how the game day knows who died.
 */
async function killWorkerAt(
  follow: Pick<GameDayActivities, 'awaitIncidentStep'>,
  step: string,
  incident: { workflowId: string; runId: string },
  timeoutMs: number,
): Promise<GameDayWorkerKill> {
  const reached = await follow.awaitIncidentStep({ ...incident, step, timeoutMs });
  if (!reached) return { step, outcome: 'step not reached' };
  const at = new Date().toISOString();
  try {
    await kill.killGameDayWorker({ step });
    return { step, outcome: 'refused', at, detail: 'the kill activity returned' };
  } catch (err) {
    const cause = err instanceof ActivityFailure ? err.cause : undefined;
    if (cause instanceof TimeoutFailure) {
      const said = cause.lastHeartbeatDetails as { worker?: string } | undefined;
      return { step, outcome: 'killed', at, incidentStep: reached.incidentStep, worker: said?.worker };
    }
    return { step, outcome: 'refused', at, detail: cause?.message ?? (err as Error).message };
  }
}
