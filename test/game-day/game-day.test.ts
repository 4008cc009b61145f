/**
 * Game days end to end (issue 23), as an operator runs them: the built CLI creates a Temporal
 * Schedule, pauses, lists and triggers it; the scheduled `gameDay` workflow, on the real worker
 * process, crashes the stack's sandbox API (its game-day target, GAMEDAY_TARGETS from
 * scripts/stack.sh); detection does the rest through the real alert path (Prometheus rule →
 * the stack's Alertmanager, fast timing → the intake → P0-1, which restarts the API); the game
 * day finds that incident, waits for it and scores it; `gameday results` shows the score.
 * Bad input is refused before anything is created, and the worker refuses a target that is not a
 * game-day target even when the workflow is started directly (from the UI, say).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { WorkflowFailedError } from '@temporalio/client';
import { gameDayScheduleId, type GameDayScore } from '../../definitions/game-day';
import { loadGameDayConfig } from '../../config/game-day';
import type { GameDayRun, GameDaySchedule } from '../../client/game-days';
import type { IncidentState } from '../../definitions/types';
import { assertCliBuilt, cliOn } from '../../rig/cli';
import { need } from '../../rig/env';
import { testDocker, waitUntil } from '../../rig/sandbox';
import { stackApi } from '../../rig/stack-api';
import { quietStart, startLoopRig, type LoopRig } from '../alerting/loop-rig';

const api = stackApi();
const container = need('ACCUBOOKS_API_CONTAINER');
const scheduleId = gameDayScheduleId('P0-1', 'crash', container);
let loop: LoopRig;
let cli: ReturnType<typeof cliOn>;

/** Removes a schedule an earlier (killed) run of this suite may have left. */
async function deleteSchedule(id: string): Promise<void> {
  await loop.rig.client.schedule
    .getHandle(id)
    .delete()
    .catch(() => undefined);
}

beforeAll(async () => {
  assertCliBuilt(['client/cli.ts', 'client/cli/game-day.ts', 'client/game-days.ts', 'workflows/game-day.ts']);
  // The stack names its sandbox API as the only game-day target; the worker and the CLI read it.
  expect(loadGameDayConfig().targets).toEqual({ [container]: need('ACCUBOOKS_API_URL') });
  loop = await startLoopRig('game-day', { alertRunbooks: { SystemUnreachable: 'P0-1' } });
  cli = cliOn(loop.rig.taskQueue);
  await deleteSchedule(scheduleId);
});

afterAll(async () => {
  if (loop) await deleteSchedule(scheduleId);
  await loop?.close();
  await api.healthyAgain();
});

test('bad input is refused before anything is created, each error naming the problem', async () => {
  const create = (...args: string[]) => cli('gameday', 'create', ...args);
  const cases: [string[], RegExp][] = [
    [['--runbook', 'P9-9', '--fault', 'crash', '--cron', '0 10 * * 2'], /unknown runbook "P9-9"/],
    [['--runbook', 'P0-1', '--fault', 'meteor', '--cron', '0 10 * * 2'], /unknown fault "meteor"/],
    [
      ['--runbook', 'P0-2', '--fault', 'crash', '--cron', '0 10 * * 2'],
      /fault "crash" is detected as P0-1.*not P0-2.*--fault pool/,
    ],
    [['--runbook', 'P0-1', '--fault', 'crash', '--cron', '0 25 * * 2'], /hour "25" is not valid/],
    [['--runbook', 'P0-1', '--fault', 'crash', '--cron', 'every tuesday'], /must have 5 fields/],
    [
      ['--runbook', 'P0-1', '--fault', 'crash', '--cron', '0 10 * * 2', '--kill-worker-at', 'reboot'],
      /--kill-worker-at "reboot" is not a step of P0-1 \(its steps: check-health, check-logs, restart, verify\)/,
    ],
    [
      ['--runbook', 'P1-1', '--fault', 'errors', '--cron', '0 10 * * 2', '--kill-worker-at', 'restart'],
      /--kill-worker-at is not available for P1-1 yet/,
    ],
    [
      ['--runbook', 'P0-1', '--fault', 'crash', '--cron', '0 10 * * 2', '--target', 'accubooks-api-prod'],
      /--target "accubooks-api-prod" is not a game-day target/,
    ],
  ];
  for (const [args, message] of cases) {
    const run = await create(...args);
    expect({ args, code: run.code }).toEqual({ args, code: 2 });
    expect(run.stderr).toMatch(message);
  }
  // Nothing was created, not even the one schedule a valid game day of this target would get.
  const list = await cli('--json', 'gameday', 'list');
  expect(list.code).toBe(0);
  expect(list.json<GameDaySchedule[]>().map((s) => s.scheduleId)).not.toContain(scheduleId);
  await expect(loop.rig.client.schedule.getHandle(scheduleId).describe()).rejects.toThrow(/not found/i);
});

test('the worker refuses a target that is not a game-day target, even when the workflow is started directly', async () => {
  const handle = await loop.rig.client.workflow.start('gameDay', {
    taskQueue: loop.rig.taskQueue,
    workflowId: `game-day-direct-${Date.now()}`,
    args: [{ runbook: 'P0-1', fault: 'crash', target: 'accubooks-api-prod' }],
  });
  const err = await handle.result().then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(WorkflowFailedError);
  const cause = (err as WorkflowFailedError).cause;
  expect(`${cause?.message} ${(cause?.cause as Error | undefined)?.message}`).toMatch(
    new RegExp(
      `"accubooks-api-prod" is not a game-day target of this worker \\(GAMEDAY_TARGETS names ${container}\\)`,
    ),
  );
  expect(await api.health()).toBe(200);
  // `gameday results` says why that run has no score.
  const runs = (await cli('--json', 'gameday', 'results', '--limit', '20')).json<GameDayRun[]>();
  expect(runs.find((r) => r.workflowId === handle.workflowId)).toMatchObject({
    status: 'FAILED',
    error: expect.stringMatching(/"accubooks-api-prod" is not a game-day target of this worker/),
  });
});

test(
  'a scheduled P0-1 crash game day: triggered now, detected through Alertmanager, restarted by P0-1, scored',
  async () => {
    const created = await cli(
      '--json',
      'gameday',
      'create',
      '--runbook',
      'P0-1',
      '--fault',
      'crash',
      '--cron',
      '0 10 * * 2',
    );
    expect(created.stderr).toBe('');
    expect(created.json()).toMatchObject({ scheduleId, runbook: 'P0-1', fault: 'crash', target: container });
    const again = await cli(
      'gameday',
      'create',
      '--runbook',
      'P0-1',
      '--fault',
      'crash',
      '--cron',
      '0 10 * * 2',
    );
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/exists already/);

    // The schedule list is eventually consistent; pause and unpause through the Schedule API.
    const listed = async () =>
      (await cli('--json', 'gameday', 'list'))
        .json<GameDaySchedule[]>()
        .find((s) => s.scheduleId === scheduleId);
    expect((await cli('gameday', 'pause', scheduleId, '--note', 'rehearsal week')).code).toBe(0);
    await waitUntil('the paused game day in the list', async () => (await listed())?.paused === true, 30_000);
    expect(await listed()).toMatchObject({
      runbook: 'P0-1',
      fault: 'crash',
      target: container,
      cron: '0 10 * * 2',
    });
    expect((await listed())?.note).toBe('rehearsal week');
    expect((await loop.rig.client.schedule.getHandle(scheduleId).describe()).state.paused).toBe(true);
    expect((await cli('gameday', 'unpause', scheduleId)).code).toBe(0);
    expect((await loop.rig.client.schedule.getHandle(scheduleId).describe()).state.paused).toBe(false);
    const next = (await loop.rig.client.schedule.getHandle(scheduleId).describe()).info.nextActionTimes[0];
    expect(next.getUTCDay()).toBe(2); // Tuesday
    expect([next.getUTCHours(), next.getUTCMinutes()]).toEqual([10, 0]);

    // Run it now. An earlier suite's crash may still be fading from Prometheus.
    await api.healthyAgain();
    await quietStart(loop, 'SystemUnreachable', 'P0-1', 120_000);
    const startedBefore = (await testDocker().getContainer(container).inspect()).State.StartedAt;
    expect((await cli('gameday', 'trigger', scheduleId)).code).toBe(0);
    let runId = '';
    await waitUntil('the schedule to start the game day', async () => {
      const actions = (await loop.rig.client.schedule.getHandle(scheduleId).describe()).info.recentActions;
      runId = actions[0]?.action.workflow.workflowId ?? '';
      return runId !== '';
    });
    expect(runId.startsWith(`${scheduleId}-`)).toBe(true);
    const score = (await loop.rig.client.workflow.getHandle(runId).result()) as GameDayScore;

    // The crash happened, detection started P0-1 through Alertmanager, P0-1 restarted the API.
    const incident = loop.rig.of(container, 'SystemUnreachable').find((r) => r.outcome === 'started');
    expect(incident?.at).toBeGreaterThan(Date.parse(score.injectedAt));
    const final = (await loop.rig.client.workflow
      .getHandle(score.incident!.workflowId, score.incident!.runId)
      .result()) as IncidentState;
    await api.expectRestartedByP01(final, startedBefore);
    expect(final.trigger).toMatchObject({ source: 'alert', alertName: 'SystemUnreachable' });

    // The score: detect < first action < resolve, all within P0's 30-minute MTTR target.
    expect(score).toMatchObject({
      gameDay: runId,
      runbook: 'P0-1',
      fault: 'crash',
      target: container,
      verdict: 'pass',
      reasons: [],
      mttrTargetMs: 30 * 60_000,
      incident: { closeStatus: 'COMPLETED', status: 'resolved' },
      firstAction: { step: 'restart' },
      approvals: [],
      escalations: [],
      faultCleared: false,
    });
    expect(score.detectMs).toBeGreaterThan(0);
    expect(score.firstAction!.ms).toBeGreaterThan(score.detectMs!);
    expect(score.resolveMs).toBeGreaterThan(score.firstAction!.ms);
    expect(score.resolveMs).toBeLessThan(score.mttrTargetMs);
    expect(Date.parse(final.mttr.resolvedAt!) - Date.parse(score.injectedAt)).toBe(score.resolveMs);

    // `results --json` returns the score; the table shows it.
    const results = await cli('--json', 'gameday', 'results', '--schedule', scheduleId);
    expect(results.code).toBe(0);
    const runs = results.json<GameDayRun[]>();
    // Newest first; runs of this schedule only (earlier runs of this suite on a kept stack stay listed).
    expect(runs.every((r) => r.scheduleId === scheduleId)).toBe(true);
    expect(runs[0]).toMatchObject({ workflowId: runId, scheduleId, status: 'COMPLETED', score });
    const table = await cli('gameday', 'results', '--schedule', scheduleId);
    expect(table.stdout).toMatch(
      /^FAULT AT +GAME DAY +RUNBOOK +FAULT +DETECT +FIRST ACTION +RESOLVE +MTTR TARGET +VERDICT/,
    );
    expect(table.stdout).toMatch(
      new RegExp(
        `${scheduleId} +P0-1 +crash +[\\dms.]+ +[\\dms.]+ \\(restart\\) +[\\dms.]+ +<30m00s +PASS +none asked +none`,
      ),
    );
    const file = path.join(__dirname, '../../test-artifacts/game-day-results.txt');
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, table.stdout);

    // Deleting the schedule keeps the score.
    expect((await cli('gameday', 'delete', scheduleId)).code).toBe(0);
    await expect(loop.rig.client.schedule.getHandle(scheduleId).describe()).rejects.toThrow(/not found/i);
    expect(
      (await cli('--json', 'gameday', 'results')).json<GameDayRun[]>().map((r) => r.workflowId),
    ).toContain(runId);
  },
  8 * 60_000,
);

test(
  'a worker without GAMEDAY_WORKER_KILL refuses the kill; the game day still scores the incident and says so',
  async () => {
    await api.healthyAgain();
    await quietStart(loop, 'SystemUnreachable', 'P0-1', 120_000);
    const handle = await loop.rig.client.workflow.start('gameDay', {
      taskQueue: loop.rig.taskQueue,
      workflowId: `game-day-no-kill-${Date.now()}`,
      args: [{ runbook: 'P0-1', fault: 'crash', target: container, killWorkerAt: 'check-logs' }],
    });
    const score = (await handle.result()) as GameDayScore;
    expect(score.workerKill).toMatchObject({
      step: 'check-logs',
      outcome: 'refused',
      detail: expect.stringMatching(
        /^this worker \(\d+@.+\) has no worker kill: GAMEDAY_WORKER_KILL is not true$/,
      ),
    });
    expect(loop.worker.running()).toBe(true);
    expect(score).toMatchObject({ verdict: 'pass', incident: { status: 'resolved' } });
  },
  4 * 60_000,
);
