/**
 * `runbooks gameday create|list|results|pause|unpause|trigger|delete`: scheduled game days (issue
 * 23) through the Schedule API. Every check runs before anything is created: the runbook, the
 * fault (and that it is the runbook's), the cron, and that the target is a game-day target
 * (GAMEDAY_TARGETS, config/game-day.ts; the worker checks again before each injection).
 */
import { ScheduleNotFoundError, type Client } from '@temporalio/client';
import type { Command } from 'commander';
import { loadGameDayConfig } from '../../config/game-day';
import {
  GAME_DAY_FAULT_NAMES,
  GAME_DAY_FAULTS,
  GAME_DAY_ID_PREFIX,
  gameDayInputProblem,
  type GameDayFault,
  type GameDayInput,
} from '../../definitions/game-day';
import type { RunbookId } from '../../definitions/types';
import { createGameDaySchedule, cronProblem, gameDayRuns, listGameDaySchedules } from '../game-days';
import { CliError, withClient, type Cli } from './common';
import { resultsTable, scheduleTable } from './game-day-table';

interface CreateOpts {
  runbook: string;
  fault: string;
  cron: string;
  target?: string;
  detectTimeout?: string;
  resolveTimeout?: string;
  killWorkerAt?: string;
}

const minutes = (flag: string, v: string | undefined): number | undefined => {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!(Number.isFinite(n) && n > 0))
    throw new CliError(`${flag} "${v}" must be a number of minutes above 0`, 2);
  return Math.round(n * 60_000);
};

/** The game day's input from the options, or a usage error naming what is wrong. */
function gameDayInput(o: CreateOpts): { input: GameDayInput; cron: string } {
  const targets = Object.keys(loadGameDayConfig().targets);
  if (!targets.length) {
    throw new CliError(
      'no game-day target: set GAMEDAY_TARGETS=container=url (the sandbox API) first; production has none',
      2,
    );
  }
  const target = o.target ?? (targets.length === 1 ? targets[0] : undefined);
  if (!target) throw new CliError(`--target is needed: GAMEDAY_TARGETS names ${targets.join(', ')}`, 2);
  if (!targets.includes(target)) {
    throw new CliError(
      `--target "${target}" is not a game-day target (GAMEDAY_TARGETS names ${targets.join(', ')}): nothing created`,
      2,
    );
  }
  const input: GameDayInput = {
    runbook: o.runbook as RunbookId,
    fault: o.fault as GameDayFault,
    target,
    detectTimeoutMs: minutes('--detect-timeout', o.detectTimeout),
    resolveTimeoutMs: minutes('--resolve-timeout', o.resolveTimeout),
    ...(o.killWorkerAt === undefined ? {} : { killWorkerAt: o.killWorkerAt }),
  };
  const problem = gameDayInputProblem(input) ?? cronProblem(o.cron);
  if (problem) throw new CliError(`${problem}: nothing created`, 2);
  return { input, cron: o.cron.trim() };
}

/** A schedule command on one game day; "not found" becomes advice. */
async function onSchedule(id: string, fn: (client: Client) => Promise<void>): Promise<void> {
  if (!id.startsWith(GAME_DAY_ID_PREFIX)) {
    throw new CliError(
      `"${id}" is not a game-day schedule ID (they start with ${GAME_DAY_ID_PREFIX}; see runbooks gameday list)`,
      2,
    );
  }
  await withClient(async (client) => {
    try {
      await fn(client);
    } catch (err) {
      if (err instanceof ScheduleNotFoundError || /not found/i.test((err as Error).message)) {
        throw new CliError(`No game day "${id}". List them with: runbooks gameday list`);
      }
      throw err;
    }
  });
}

function scheduleCommands(group: Command, print: Cli['print']): void {
  const simple = [
    [
      'pause',
      'pause a game day (no runs until unpaused)',
      (c: Client, id: string, note: string) => c.schedule.getHandle(id).pause(note),
    ],
    [
      'unpause',
      'resume a paused game day',
      (c: Client, id: string, note: string) => c.schedule.getHandle(id).unpause(note),
    ],
    [
      'trigger',
      'run a game day now (skipped while one of it runs)',
      (c: Client, id: string) => c.schedule.getHandle(id).trigger(),
    ],
    [
      'delete',
      'delete a game day (its past runs and scores stay)',
      (c: Client, id: string) => c.schedule.getHandle(id).delete(),
    ],
  ] as const;
  for (const [name, description, act] of simple) {
    const cmd = group.command(name).description(description).argument('<schedule>', 'game-day schedule ID');
    if (name === 'pause' || name === 'unpause') cmd.option('--note <text>', 'why (kept on the schedule)');
    cmd.action(async (id: string, o: { note?: string }) => {
      const note = o.note ?? `${name}d by ${process.env.USER ?? 'operator'} from the CLI`;
      await onSchedule(id, (client) => act(client, id, note));
      print(`${name}: ${id} done`, { scheduleId: id, action: name });
    });
  }
}

export function gameDayCommands({ program, print }: Cli): void {
  const group = program
    .command('gameday')
    .description(
      'scheduled game days: inject a fault into a game-day target, let detection start the runbook, score it',
    );
  group
    .command('create')
    .description(
      'create a game day: a schedule that injects the fault and scores the incident detection starts',
    )
    .requiredOption('--runbook <id>', 'the runbook the fault should start, e.g. P0-1')
    .requiredOption(
      '--fault <fault>',
      `the fault: ${GAME_DAY_FAULT_NAMES.map((f) => `${f} (${GAME_DAY_FAULTS[f].runbook})`).join(', ')}`,
    )
    .requiredOption('--cron <expr>', 'when, as cron (UTC): "0 10 * * 2" is Tuesdays at 10:00')
    .option('--target <container>', 'a game-day target from GAMEDAY_TARGETS (default: the only one)')
    .option(
      '--detect-timeout <minutes>',
      'how long detection may take before the run counts as missed (default 10)',
    )
    .option(
      '--resolve-timeout <minutes>',
      'how long to wait for the incident to close (default twice its MTTR target)',
    )
    .option(
      '--kill-worker-at <step>',
      'kill a worker once the incident has started this step (P0-1: check-health, check-logs, restart, verify); only a worker with GAMEDAY_WORKER_KILL=true takes it',
    )
    .addHelpText(
      'after',
      '\nExample:\n  runbooks gameday create --runbook P0-1 --fault crash --cron "0 10 * * 2"',
    )
    .action(async (o: CreateOpts) => {
      const { input, cron } = gameDayInput(o);
      await withClient(async (client, taskQueue) => {
        const id = await createGameDaySchedule(client, taskQueue, input, cron).catch((err: Error) => {
          if (/already/i.test(err.message))
            throw new CliError(
              `game day ${input.runbook}/${input.fault} on ${input.target} exists already (runbooks gameday list)`,
            );
          throw err;
        });
        print(`Created game day ${id} (${cron}). Run it now: runbooks gameday trigger ${id}`, {
          scheduleId: id,
          ...input,
          cron,
        });
      });
    });
  group
    .command('list')
    .description('game-day schedules, paused or not, with their next run')
    .action(async () => {
      const schedules = await withClient((client) => listGameDaySchedules(client));
      print(scheduleTable(schedules), schedules);
    });
  group
    .command('results')
    .description('the scores of the latest game-day runs, newest first')
    .option('--schedule <id>', 'only this game day')
    .option('--limit <n>', 'how many runs', '10')
    .action(async (o: { schedule?: string; limit: string }) => {
      const limit = Number(o.limit);
      if (!(Number.isInteger(limit) && limit > 0 && limit <= 100))
        throw new CliError(`--limit "${o.limit}" must be 1 to 100`, 2);
      const runs = await withClient((client) => gameDayRuns(client, { scheduleId: o.schedule, limit }));
      print(resultsTable(runs), runs);
    });
  scheduleCommands(group, print);
}
