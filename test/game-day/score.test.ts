/**
 * The pure parts of game days: the cron check the CLI runs before it creates a schedule, the
 * game-day configuration, the input check the workflow repeats, and how a run is scored when it
 * does not go well (not detected, not resolved, past the MTTR target, closed by a person).
 */
import { cronProblem } from '../../client/game-days';
import { loadGameDayConfig } from '../../config/game-day';
import { gameDayInputProblem, scoreGameDay, type GameDayInput } from '../../definitions/game-day';
import type { IncidentState } from '../../definitions/types';

test.each(['0 10 * * 2', '*/15 9-17 * * mon-fri', '0 0 1 jan,jul *', '5,35 * * * *', '@daily'])(
  'cron "%s" is accepted',
  (expr) => expect(cronProblem(expr)).toBeUndefined(),
);

test.each([
  ['0 10 * *', /must have 5 fields .* it has 4/],
  ['60 10 * * 2', /minute "60" is not valid/],
  ['0 10 32 * *', /day of month "32" is not valid/],
  ['0 10 * 13 *', /month "13" is not valid/],
  ['0 10 * * 7', /day of week "7" is not valid/],
  ['0 10 * * funday', /day of week "funday" is not valid/],
  ['0 17-9 * * *', /hour "17-9" is not valid/],
  ['*/0 * * * *', /minute "\*\/0" is not valid/],
])('cron "%s" is refused, naming the field', (expr, message) => {
  expect(cronProblem(expr)).toMatch(message);
});

test('GAMEDAY_TARGETS: container=url pairs; unset means no target; a bad entry is named', () => {
  expect(loadGameDayConfig({})).toEqual({ targets: {}, workerKill: false });
  expect(
    loadGameDayConfig({
      GAMEDAY_TARGETS: 'sandbox-a=http://127.0.0.1:8080/, staging-api=https://staging.example',
      GAMEDAY_WORKER_KILL: 'true',
    }),
  ).toEqual({
    targets: { 'sandbox-a': 'http://127.0.0.1:8080', 'staging-api': 'https://staging.example' },
    workerKill: true,
  });
  expect(() =>
    loadGameDayConfig({
      GAMEDAY_TARGETS: 'http://127.0.0.1:8080,api=ftp://x,b=http://u:p@h',
      GAMEDAY_WORKER_KILL: 'yes',
    }),
  ).toThrow(
    /entry "http:\/\/127.0.0.1:8080" must be container=url[\s\S]*api has "ftp:\/\/x"[\s\S]*b has "http:\/\/u:p@h": must be an http\(s\) URL without credentials[\s\S]*GAMEDAY_WORKER_KILL must be true or false, not "yes"/,
  );
});

test('the workflow refuses what the CLI refuses', () => {
  const ok: GameDayInput = { runbook: 'P0-1', fault: 'crash', target: 'sandbox-a' };
  expect(gameDayInputProblem(ok)).toBeUndefined();
  expect(gameDayInputProblem({ ...ok, target: "x' OR 1=1" })).toMatch(/is not a container name/);
  expect(gameDayInputProblem({ ...ok, detectTimeoutMs: -1 })).toMatch(/detectTimeoutMs must be a positive/);
  expect(gameDayInputProblem({ ...ok, runbook: 'P0-3', fault: 'crash' })).toMatch(
    /a game day of P0-3 needs a fault no game day can inject yet/,
  );
});

const injectedAt = '2026-12-05T10:00:00.000Z';
const at = (s: number) => new Date(Date.parse(injectedAt) + s * 1000).toISOString();
const input: GameDayInput = { runbook: 'P0-1', fault: 'crash', target: 'sandbox-a' };
const incident = (state: Partial<IncidentState>) => ({
  workflowId: 'incident-P0-1-sandbox-a',
  runId: 'r1',
  startedAt: at(90),
  closeStatus: 'COMPLETED',
  state: {
    status: 'resolved',
    steps: [
      { name: 'check-health', title: '1', status: 'done', startedAt: at(91) },
      { name: 'check-logs', title: '2', status: 'done', startedAt: at(92) },
      { name: 'restart', title: '3', status: 'done', startedAt: at(95) },
      { name: 'verify', title: '4', status: 'done', startedAt: at(100) },
    ],
    escalations: [
      { at: at(900), tier: 'engineering lead (CTO)', reason: 'not resolved', delivered: [], failed: [] },
    ],
    approvals: [],
    mttr: {
      detectedAt: at(60),
      remediationStartedAt: at(90),
      resolvedAt: at(110),
      targetMs: 1_800_000,
      breached: false,
    },
    ...state,
  } as IncidentState,
});

test('a run is scored from the fault: detect, first action, resolve, escalations', () => {
  expect(scoreGameDay('gd-1', input, injectedAt, incident({}))).toMatchObject({
    verdict: 'pass',
    reasons: [],
    detectMs: 90_000,
    firstAction: { step: 'restart', ms: 95_000 },
    resolveMs: 110_000,
    escalations: [{ tier: 'engineering lead (CTO)', afterMs: 900_000 }],
  });
});

test('a run fails when nothing was detected, nothing resolved, the target passed, or a person closed it', () => {
  expect(scoreGameDay('gd', input, injectedAt, undefined)).toMatchObject({
    verdict: 'fail',
    reasons: ['not detected: no incident started before the detection deadline'],
  });
  const running = { ...incident({ status: 'investigating' }), closeStatus: 'RUNNING' };
  expect(scoreGameDay('gd', input, injectedAt, running).reasons).toEqual([
    "not resolved: the incident was still investigating at the game day's deadline",
  ]);
  const abandoned = incident({ status: 'abandoned' });
  expect(scoreGameDay('gd', input, injectedAt, abandoned).reasons).toEqual([
    'not resolved: the incident ended abandoned',
  ]);
  const late = incident({
    mttr: {
      detectedAt: at(60),
      remediationStartedAt: at(90),
      resolvedAt: at(1900),
      targetMs: 1_800_000,
      breached: true,
    },
  });
  expect(scoreGameDay('gd', input, injectedAt, late).reasons).toEqual([
    'resolved after the MTTR target (30 min)',
  ]);
  const byPerson = incident({
    closedBy: { by: 'alice', reason: 'fixed by hand', action: 'resolve', at: at(100) },
  });
  expect(scoreGameDay('gd', input, injectedAt, byPerson)).toMatchObject({
    verdict: 'fail',
    reasons: ['closed by a person (alice), not by the runbook'],
  });
});
