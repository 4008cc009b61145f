/**
 * Game days (issue 23): a Temporal Schedule starts the `gameDay` workflow, which injects a fault
 * into a game-day target, lets detection start the runbook, and scores the incident it caused.
 * What the CLI, the workflow and its activities share: the faults and the runbook each sets off,
 * the input and its checks, the score and how it is computed. Pure: safe in workflow code.
 */
import { RUNBOOKS } from './catalog';
import { MTTR_TARGET_MS } from './policies/common';
import type { IncidentState, RunbookId } from './types';

/**
 * The sandbox's fault for each game-day fault and the runbook its detection starts (the same table
 * as scripts/demo.sh). Each non-crash fault carries a TTL so a game day that dies leaves nothing
 * behind for long.
 */
export const GAME_DAY_FAULTS = {
  crash: { runbook: 'P0-1', alert: 'SystemUnreachable', spec: { fault: 'crash' } },
  pool: {
    runbook: 'P0-2',
    alert: 'DatabasePoolExhaustion',
    spec: { fault: 'leak-pool', count: 10, ttlSeconds: 180 },
  },
  errors: {
    runbook: 'P1-1',
    alert: 'HighErrorRate',
    spec: { fault: 'error-rate', rate: 0.5, ttlSeconds: 180 },
  },
  latency: {
    runbook: 'P1-2',
    alert: 'HighLatency',
    spec: { fault: 'slow-queries', seconds: 2, probability: 0.5, ttlSeconds: 40 },
  },
  queue: {
    runbook: 'P1-3',
    alert: 'QueueOverflow',
    spec: { fault: 'queue-flood', jobs: 1000, ttlSeconds: 60 },
  },
} as const satisfies Record<string, { runbook: RunbookId; alert: string; spec: Record<string, unknown> }>;

export type GameDayFault = keyof typeof GAME_DAY_FAULTS;
export const GAME_DAY_FAULT_NAMES = Object.keys(GAME_DAY_FAULTS) as GameDayFault[];

/** The workflow type and the prefix of every game-day schedule and workflow ID. */
export const GAME_DAY_WORKFLOW_TYPE = 'gameDay';
export const GAME_DAY_ID_PREFIX = 'game-day-';
export const gameDayScheduleId = (runbook: RunbookId, fault: GameDayFault, target: string) =>
  `${GAME_DAY_ID_PREFIX}${runbook}-${fault}-${target}`;

/** Default waits: detection within 10 minutes, the incident closed within twice its MTTR target. */
export const DEFAULT_DETECT_TIMEOUT_MS = 10 * 60_000;

export interface GameDayInput {
  runbook: RunbookId;
  fault: GameDayFault;
  /** A game-day target the worker's GAMEDAY_TARGETS names (config/game-day.ts). */
  target: string;
  detectTimeoutMs?: number;
  resolveTimeoutMs?: number;
  /** Kill a worker once the incident reaches this step (GAME_DAY_KILL_STEPS; workers with GAMEDAY_WORKER_KILL). */
  killWorkerAt?: string;
}

/**
 * The steps a worker kill may be timed to, per runbook (the step names the runbook records). Only
 * P0-1's so far: another runbook's game day runs without a kill.
 */
export const GAME_DAY_KILL_STEPS: Partial<Record<RunbookId, readonly string[]>> = {
  'P0-1': ['check-health', 'check-logs', 'restart', 'verify'],
};

const TARGET_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$/;

/** What is wrong with a game day's input (runbook, fault, target, waits), or undefined. */
export function gameDayInputProblem(i: Partial<GameDayInput>): string | undefined {
  const runbooks = Object.keys(RUNBOOKS);
  if (!i.runbook || !runbooks.includes(i.runbook)) {
    return `unknown runbook "${String(i.runbook)}" (known runbooks: ${runbooks.join(', ')})`;
  }
  if (!i.fault || !Object.hasOwn(GAME_DAY_FAULTS, i.fault)) {
    return `unknown fault "${String(i.fault)}" (game-day faults: ${GAME_DAY_FAULT_NAMES.map((f) => `${f} → ${GAME_DAY_FAULTS[f].runbook}`).join(', ')})`;
  }
  const expected = GAME_DAY_FAULTS[i.fault].runbook;
  if (expected !== i.runbook) {
    return `fault "${i.fault}" is detected as ${expected} (${RUNBOOKS[expected].name}), not ${i.runbook}: a game day of ${i.runbook} needs ${faultsFor(i.runbook)}`;
  }
  if (!i.target || !TARGET_NAME.test(i.target)) {
    return `target "${String(i.target)}" is not a container name (letters, digits, _ . -)`;
  }
  const steps = GAME_DAY_KILL_STEPS[i.runbook];
  if (i.killWorkerAt !== undefined && !steps?.includes(i.killWorkerAt)) {
    return steps
      ? `--kill-worker-at "${i.killWorkerAt}" is not a step of ${i.runbook} (its steps: ${steps.join(', ')})`
      : `--kill-worker-at is not available for ${i.runbook} yet (only for ${Object.keys(GAME_DAY_KILL_STEPS).join(', ')})`;
  }
  for (const key of ['detectTimeoutMs', 'resolveTimeoutMs'] as const) {
    const v = i[key];
    if (v !== undefined && !(Number.isInteger(v) && v > 0)) return `${key} must be a positive whole number`;
  }
  return undefined;
}

function faultsFor(runbook: RunbookId): string {
  const faults = GAME_DAY_FAULT_NAMES.filter((f) => GAME_DAY_FAULTS[f].runbook === runbook);
  return faults.length ? `--fault ${faults.join(' or ')}` : 'a fault no game day can inject yet';
}

/** The incident a game day found, and how it ended (or that it had not by the deadline). */
export interface GameDayIncident {
  workflowId: string;
  runId: string;
  startedAt: string;
  /** The workflow's close: COMPLETED, FAILED, TERMINATED, ... or RUNNING at the game day's deadline. */
  closeStatus: string;
  /** Its final state (its result), or the state its query answered when it did not complete. */
  state?: IncidentState;
}

export interface GameDayScore {
  /** The game day's own workflow ID (the schedule's ID and the start time). */
  gameDay: string;
  runbook: RunbookId;
  fault: GameDayFault;
  target: string;
  injectedAt: string;
  incident?: { workflowId: string; runId: string; closeStatus: string; status?: string; outcome?: string };
  /** From the fault to the incident's start. */
  detectMs?: number;
  /** From the fault to the first step that acts on the target (not a check). */
  firstAction?: { step: string; ms: number };
  /** From the fault to the incident's resolution. */
  resolveMs?: number;
  mttrTargetMs: number;
  verdict: 'pass' | 'fail';
  /** Why it failed (empty when it passed). */
  reasons: string[];
  approvals: { what: string; approvedBy: string[]; waitedMs?: number }[];
  escalations: { tier: string; afterMs: number; reason: string }[];
  workerKill?: GameDayWorkerKill;
  /** Whether the game day removed the fault from the target afterwards (false: nothing to remove). */
  faultCleared?: boolean;
}

/** What became of a worker kill the game day asked for. */
export interface GameDayWorkerKill {
  step: string;
  outcome: 'killed' | 'refused' | 'step not reached';
  /** When the kill was sent, and the step the incident was at then. */
  at?: string;
  incidentStep?: string;
  /** The killed worker, as it said before it died (pid@host). */
  worker?: string;
  detail?: string;
}

/**
 * Steps that act on the target (the runbooks' step names: restart, stop, kill-idle, terminate-N,
 * cancel-N, freeze-/resume-billing, pause-/resume-jobs, scale-N, scale-down, refunds); every other
 * step only looks (checks of health, logs, rates, pools; verification).
 */
const ACTS = /^(restart|stop|kill-|terminate-|cancel-|freeze-|resume-|pause-|scale|refund)/;

const since = (t0: string, t?: string) => (t ? Date.parse(t) - Date.parse(t0) : undefined);

/** Scores one game day from the injection time and what the incident recorded. */
export function scoreGameDay(
  gameDay: string,
  input: GameDayInput,
  injectedAt: string,
  incident: GameDayIncident | undefined,
): GameDayScore {
  const s = incident?.state;
  const mttrTargetMs = s?.mttr.targetMs ?? MTTR_TARGET_MS[RUNBOOKS[input.runbook].severity];
  const action = s?.steps.find((st) => ACTS.test(st.name) && st.status !== 'skipped');
  const score: GameDayScore = {
    gameDay,
    runbook: input.runbook,
    fault: input.fault,
    target: input.target,
    injectedAt,
    mttrTargetMs,
    verdict: 'fail',
    reasons: [],
    approvals: (s?.approvals ?? []).map((a) => ({
      what: a.what,
      approvedBy: a.approvedBy.map((b) => b.approver),
      waitedMs: a.requestedAt && a.decidedAt ? since(a.requestedAt, a.decidedAt) : undefined,
    })),
    escalations: (s?.escalations ?? []).map((e) => ({
      tier: e.tier,
      afterMs: since(injectedAt, e.at)!,
      reason: e.reason,
    })),
  };
  if (!incident) {
    score.reasons.push('not detected: no incident started before the detection deadline');
    return score;
  }
  score.incident = {
    workflowId: incident.workflowId,
    runId: incident.runId,
    closeStatus: incident.closeStatus,
    status: s?.status,
    outcome: s?.outcome,
  };
  score.detectMs = since(injectedAt, incident.startedAt);
  if (action) score.firstAction = { step: action.name, ms: since(injectedAt, action.startedAt)! };
  score.resolveMs = s?.status === 'resolved' ? since(injectedAt, s.mttr.resolvedAt) : undefined;
  if (s?.status !== 'resolved') {
    score.reasons.push(
      incident.closeStatus === 'RUNNING'
        ? `not resolved: the incident was still ${s?.status ?? 'running'} at the game day's deadline`
        : `not resolved: the incident ended ${s?.status ?? incident.closeStatus}`,
    );
  } else if (score.resolveMs === undefined || score.resolveMs > mttrTargetMs) {
    score.reasons.push(`resolved after the MTTR target (${mttrTargetMs / 60_000} min)`);
  }
  if (s?.closedBy) score.reasons.push(`closed by a person (${s.closedBy.by}), not by the runbook`);
  score.verdict = score.reasons.length ? 'fail' : 'pass';
  return score;
}
