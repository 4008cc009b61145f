/**
 * Game days through the Schedule API: one Temporal Schedule per game day (runbook, fault, target)
 * whose action starts the `gameDay` workflow (workflows/game-day.ts); its scores are the results of
 * the runs the schedule started (visibility: `TemporalScheduledById`).
 */
import { ScheduleOverlapPolicy, type Client } from '@temporalio/client';
import {
  GAME_DAY_ID_PREFIX,
  GAME_DAY_WORKFLOW_TYPE,
  gameDayInputProblem,
  gameDayScheduleId,
  type GameDayInput,
  type GameDayScore,
} from '../definitions/game-day';

/** A cron field: its range and the names it accepts (index = value). */
const CRON_FIELDS: { name: string; min: number; max: number; names?: string[] }[] = [
  { name: 'minute', min: 0, max: 59 },
  { name: 'hour', min: 0, max: 23 },
  { name: 'day of month', min: 1, max: 31 },
  {
    name: 'month',
    min: 1,
    max: 12,
    names: ['', 'jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'],
  },
  { name: 'day of week', min: 0, max: 6, names: ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] },
];
const CRON_SHORTHANDS = ['@yearly', '@annually', '@monthly', '@weekly', '@daily', '@midnight', '@hourly'];

/** What is wrong with a five-field cron expression ("0 10 * * 2"), or undefined. */
export function cronProblem(expr: string): string | undefined {
  const text = expr.trim();
  if (CRON_SHORTHANDS.includes(text)) return undefined;
  const fields = text.split(/\s+/);
  if (fields.length !== 5) {
    return `--cron "${expr}" must have 5 fields (minute hour day-of-month month day-of-week), e.g. "0 10 * * 2"; it has ${fields.length}`;
  }
  for (const [i, field] of fields.entries()) {
    const f = CRON_FIELDS[i];
    const value = (v: string) => {
      const n = f.names?.indexOf(v.toLowerCase()) ?? -1;
      return n >= 0 && v !== '' ? n : /^\d+$/.test(v) ? Number(v) : NaN;
    };
    for (const part of field.split(',')) {
      const m = /^(\*|([^-/]+)(?:-([^-/]+))?)(?:\/(\d+))?$/.exec(part);
      const bounds = m && m[1] !== '*' ? [value(m[2]), m[3] === undefined ? undefined : value(m[3])] : [];
      const bad =
        !m ||
        (m[4] !== undefined && Number(m[4]) < 1) ||
        bounds.some((b) => b !== undefined && !(b >= f.min && b <= f.max)) ||
        (bounds[1] !== undefined && bounds[1] < bounds[0]!);
      if (bad)
        return `--cron "${expr}": ${f.name} "${part}" is not valid (${f.min}-${f.max}, *, lists, ranges, /steps)`;
    }
  }
  return undefined;
}

export interface GameDaySchedule {
  scheduleId: string;
  runbook?: string;
  fault?: string;
  target?: string;
  cron?: string;
  paused: boolean;
  note?: string;
  nextRun?: string;
  recentRuns: { workflowId: string; at: string }[];
}

/** Creates the schedule; the input and the cron must have been checked (gameDayInputProblem, cronProblem). */
export async function createGameDaySchedule(
  client: Client,
  taskQueue: string,
  input: GameDayInput,
  cron: string,
): Promise<string> {
  const problem = gameDayInputProblem(input) ?? cronProblem(cron);
  if (problem) throw new Error(problem);
  const scheduleId = gameDayScheduleId(input.runbook, input.fault, input.target);
  await client.schedule.create({
    scheduleId,
    spec: { cronExpressions: [cron] },
    action: {
      type: 'startWorkflow',
      workflowType: GAME_DAY_WORKFLOW_TYPE,
      args: [input],
      taskQueue,
      workflowId: scheduleId,
    },
    // One game day at a time per schedule: a run still scoring its incident skips the next.
    policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: '10 minutes' },
    memo: { runbook: input.runbook, fault: input.fault, target: input.target, cron },
  });
  return scheduleId;
}

/** Every game-day schedule (the schedule list is eventually consistent: a new one shows in seconds). */
export async function listGameDaySchedules(client: Client): Promise<GameDaySchedule[]> {
  const out: GameDaySchedule[] = [];
  for await (const s of client.schedule.list()) {
    if (!s.scheduleId.startsWith(GAME_DAY_ID_PREFIX)) continue;
    const memo = (s.memo ?? {}) as Record<string, string | undefined>;
    out.push({
      scheduleId: s.scheduleId,
      runbook: memo.runbook,
      fault: memo.fault,
      target: memo.target,
      cron: memo.cron,
      paused: s.state.paused,
      note: s.state.note,
      nextRun: s.info.nextActionTimes[0]?.toISOString(),
      recentRuns: s.info.recentActions.map((a) => ({
        workflowId: a.action.workflow.workflowId,
        at: a.takenAt.toISOString(),
      })),
    });
  }
  return out.sort((a, b) => a.scheduleId.localeCompare(b.scheduleId));
}

export interface GameDayRun {
  workflowId: string;
  runId: string;
  scheduleId?: string;
  startedAt: string;
  status: string;
  score?: GameDayScore;
  /** Why the run has no score (it failed: refused target, bad input...). */
  error?: string;
}

/** The innermost cause's message ("Activity task failed" says nothing; the refusal under it does). */
function rootMessage(err: unknown): string {
  let e = err as Error | undefined;
  while (e && e.cause instanceof Error) e = e.cause;
  return e?.message ?? String(err);
}

/** The latest game-day runs (of one schedule, or all), newest first, each with its score when done. */
export async function gameDayRuns(
  client: Client,
  opts: { scheduleId?: string; limit: number },
): Promise<GameDayRun[]> {
  const query =
    `WorkflowType = '${GAME_DAY_WORKFLOW_TYPE}'` +
    (opts.scheduleId ? ` AND TemporalScheduledById = '${opts.scheduleId.replace(/'/g, '')}'` : '');
  const found: GameDayRun[] = [];
  for await (const w of client.workflow.list({ query, pageSize: opts.limit })) {
    found.push({
      workflowId: w.workflowId,
      runId: w.runId,
      scheduleId: w.searchAttributes?.TemporalScheduledById?.[0] as string | undefined,
      startedAt: w.startTime.toISOString(),
      status: w.status.name,
    });
    if (found.length >= opts.limit) break;
  }
  found.sort((a, b) => b.startedAt.localeCompare(a.startedAt));
  for (const run of found) {
    if (run.status !== 'COMPLETED' && run.status !== 'FAILED') continue;
    try {
      run.score = (await client.workflow.getHandle(run.workflowId, run.runId).result()) as GameDayScore;
    } catch (err) {
      run.error = rootMessage(err);
    }
  }
  return found;
}
