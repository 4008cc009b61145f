/**
 * A game day with a worker kill (`--kill-worker-at restart`): two real worker processes on the
 * task queue, both with GAMEDAY_WORKER_KILL=true; once the P0-1 incident the crash started has
 * begun its restart, the worker that takes the game day's kill activity SIGKILLs itself. The
 * incident still resolves on the worker that is left, and the score names the worker that died.
 */
import { gameDayScheduleId, type GameDayScore } from '../../definitions/game-day';
import type { GameDayRun } from '../../client/game-days';
import type { IncidentState } from '../../definitions/types';
import { assertCliBuilt, cliOn } from '../../rig/cli';
import { need } from '../../rig/env';
import { testDocker, waitUntil } from '../../rig/sandbox';
import { stackApi } from '../../rig/stack-api';
import { startWorkerProcess, type WorkerProcess } from '../../rig/worker-process';
import { quietStart, startLoopRig, type LoopRig } from '../alerting/loop-rig';

const api = stackApi();
const container = need('ACCUBOOKS_API_CONTAINER');
const scheduleId = gameDayScheduleId('P0-1', 'crash', container);
let loop: LoopRig;
let second: WorkerProcess;

beforeAll(async () => {
  assertCliBuilt(['client/cli/game-day.ts', 'workflows/game-day.ts', 'activities/game-day.ts']);
  // The loop rig's worker inherits this environment: both workers carry the kill hook.
  process.env.GAMEDAY_WORKER_KILL = 'true';
  loop = await startLoopRig('game-day-kill', { alertRunbooks: { SystemUnreachable: 'P0-1' } });
  second = await startWorkerProcess({
    name: 'the second worker',
    env: {
      TEMPORAL_TASK_QUEUE: loop.rig.taskQueue,
      GAMEDAY_WORKER_KILL: 'true',
      NOTIFY_PAGERDUTY_EVENTS_URL: `${loop.pd.url}/v2/enqueue`,
      PAGERDUTY_ROUTING_KEY: 'loop-routing-key',
    },
  });
  await loop.rig.client.schedule
    .getHandle(scheduleId)
    .delete()
    .catch(() => undefined);
});

afterAll(async () => {
  delete process.env.GAMEDAY_WORKER_KILL;
  await loop?.rig.client.schedule
    .getHandle(scheduleId)
    .delete()
    .catch(() => undefined);
  await second?.stop();
  await loop?.close();
  await api.healthyAgain();
});

test(
  'a worker is killed once P0-1 has started its restart; the incident still resolves and the score names the dead worker',
  async () => {
    const cli = cliOn(loop.rig.taskQueue);
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
      '--kill-worker-at',
      'restart',
    );
    expect(created.stderr).toBe('');
    expect(created.json()).toMatchObject({ scheduleId, killWorkerAt: 'restart' });

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
    const score = (await loop.rig.client.workflow.getHandle(runId).result()) as GameDayScore;

    // Exactly one of the two workers died, by SIGKILL, and it is the one the score names.
    const workers = [loop.worker, second];
    const dead = workers.filter((w) => !w.running());
    expect(dead).toHaveLength(1);
    expect(await dead[0].exited).toEqual({ code: null, signal: 'SIGKILL' });
    expect(score.workerKill).toMatchObject({ step: 'restart', outcome: 'killed' });
    expect(score.workerKill!.worker).toMatch(new RegExp(`^${dead[0].pid}@`));
    expect(Date.parse(score.workerKill!.at!)).toBeGreaterThan(Date.parse(score.injectedAt));

    // The incident outlived the worker: resolved by one restart, and the game day passed.
    const final = (await loop.rig.client.workflow
      .getHandle(score.incident!.workflowId, score.incident!.runId)
      .result()) as IncidentState;
    await api.expectRestartedByP01(final, startedBefore);
    expect(score).toMatchObject({
      verdict: 'pass',
      incident: { status: 'resolved' },
      firstAction: { step: 'restart' },
    });

    const table = await cli('gameday', 'results', '--schedule', scheduleId);
    expect(table.stdout).toContain(
      `${runId}: worker kill at restart: killed ${score.workerKill!.worker} at +`,
    );
    const runs = (await cli('--json', 'gameday', 'results', '--schedule', scheduleId)).json<GameDayRun[]>();
    expect(runs[0].score?.workerKill).toEqual(score.workerKill);
  },
  10 * 60_000,
);
