/**
 * A second fault's game day: `errors` (half the API's requests fail) → HighErrorRate → the stack's
 * Alertmanager → the intake → P1-1, which restarts the API (the fault lives in its memory). The
 * intake starts P1-1 with a verification window of seconds instead of the runbook's 5 minutes
 * (as test/alerting/metric-runbooks.loop.test.ts does); detection and the fix are the real ones.
 */
import { gameDayScheduleId, type GameDayScore } from '../../definitions/game-day';
import type { IncidentState } from '../../definitions/types';
import { assertCliBuilt, cliOn } from '../../rig/cli';
import { need } from '../../rig/env';
import { waitUntil } from '../../rig/sandbox';
import { stackApi } from '../../rig/stack-api';
import { quietStart, stackRateWindow, startLoopRig, type LoopRig } from '../alerting/loop-rig';

const api = stackApi();
const container = need('ACCUBOOKS_API_CONTAINER');
const scheduleId = gameDayScheduleId('P1-1', 'errors', container);
let loop: LoopRig;

const deleteSchedule = () =>
  loop.rig.client.schedule
    .getHandle(scheduleId)
    .delete()
    .catch(() => undefined);

beforeAll(async () => {
  assertCliBuilt(['client/cli/game-day.ts', 'workflows/game-day.ts', 'activities/game-day.ts']);
  loop = await startLoopRig('game-day-p11', {
    alertRunbooks: { HighErrorRate: 'P1-1' },
    runbookPolicies: {
      'P1-1': {
        resolveWindowMs: 10_000,
        sampleIntervalMs: 2_000,
        maxSampleIntervalMs: 5_000,
        // The stack's rule's rate() range: the alert and the runbook agree on "resolved".
        rateWindow: stackRateWindow,
      },
    },
  });
  await deleteSchedule();
});

afterAll(async () => {
  if (loop) await deleteSchedule();
  await loop?.close();
  await api.faults('DELETE');
  await api.healthyAgain();
});

test(
  'an errors game day: HighErrorRate through Alertmanager starts P1-1, which restarts the API; scored against P1',
  async () => {
    const cli = cliOn(loop.rig.taskQueue);
    const created = await cli(
      'gameday',
      'create',
      '--runbook',
      'P1-1',
      '--fault',
      'errors',
      '--cron',
      '30 9 * * mon-fri',
    );
    expect(created.stderr).toBe('');
    await api.healthyAgain();
    await quietStart(loop, 'HighErrorRate', 'P1-1');
    expect((await cli('gameday', 'trigger', scheduleId)).code).toBe(0);
    let runId = '';
    await waitUntil('the schedule to start the game day', async () => {
      const actions = (await loop.rig.client.schedule.getHandle(scheduleId).describe()).info.recentActions;
      runId = actions[0]?.action.workflow.workflowId ?? '';
      return runId !== '';
    });
    const score = (await loop.rig.client.workflow.getHandle(runId).result()) as GameDayScore;

    const final = (await loop.rig.client.workflow
      .getHandle(score.incident!.workflowId, score.incident!.runId)
      .result()) as IncidentState;
    expect(final).toMatchObject({ runbook: 'P1-1', target: container, status: 'resolved' });
    expect(final.trigger).toMatchObject({ source: 'alert', alertName: 'HighErrorRate' });
    expect(final.steps.find((s) => s.name === 'restart')?.status).toBe('done');

    expect(score).toMatchObject({
      runbook: 'P1-1',
      fault: 'errors',
      verdict: 'pass',
      reasons: [],
      mttrTargetMs: 4 * 60 * 60_000,
      incident: { closeStatus: 'COMPLETED', status: 'resolved' },
      firstAction: { step: 'restart' },
      faultCleared: true,
    });
    expect(score.detectMs).toBeGreaterThan(0);
    expect(score.firstAction!.ms).toBeGreaterThan(score.detectMs!);
    expect(score.resolveMs).toBeGreaterThan(score.firstAction!.ms);

    const table = await cli('gameday', 'results', '--schedule', scheduleId, '--limit', '1');
    expect(table.stdout).toMatch(
      new RegExp(`${scheduleId} +P1-1 +errors +[\\dms.]+ +[\\dms.]+ \\(restart\\) +[\\dms.]+ +<4h00m +PASS`),
    );
  },
  10 * 60_000,
);
