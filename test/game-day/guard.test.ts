/**
 * The game day's guard, in its activities against the real stack: a fault reaches only a target
 * the worker's GAMEDAY_TARGETS names AND whose API answers the sandbox's fault routes as that
 * instance. A production API (no fault routes; here Prometheus stands in for "some other HTTP
 * service") and a sandbox under another name are refused before any fault, and nothing is injected.
 */
import { createGameDayActivities } from '../../activities/game-day';
import { runActivity } from '../../rig/activity';
import { need } from '../../rig/env';
import { stackApi } from '../../rig/stack-api';

const api = stackApi();
const container = need('ACCUBOOKS_API_CONTAINER');
const acts = createGameDayActivities({
  targets: {
    [container]: need('ACCUBOOKS_API_URL'),
    'accubooks-api-prod': need('PROMETHEUS_URL'),
    'renamed-sandbox': need('ACCUBOOKS_API_URL'),
  },
});
const crash = (target: string) => ({
  runbook: 'P0-1' as const,
  fault: 'crash' as const,
  target,
  quietTimeoutMs: 1000,
});

test('a target GAMEDAY_TARGETS does not name is refused by every activity that touches one', async () => {
  await expect(runActivity(acts.gameDayPreflight, crash('billing-db'))).rejects.toThrow(
    `"billing-db" is not a game-day target of this worker (GAMEDAY_TARGETS names ${container}, accubooks-api-prod, renamed-sandbox): no fault injected`,
  );
  await expect(
    runActivity(acts.injectGameDayFault, { fault: 'crash', target: 'billing-db' }),
  ).rejects.toThrow(/not a game-day target/);
  await expect(
    runActivity(acts.clearGameDayFault, { fault: 'errors', target: 'billing-db' }),
  ).rejects.toThrow(/not a game-day target/);
});

test('a named target that is not that sandbox is refused before any fault', async () => {
  await expect(runActivity(acts.gameDayPreflight, crash('accubooks-api-prod'))).rejects.toThrow(
    /is not the sandbox API accubooks-api-prod \(its fault routes answered HTTP 404, instance undefined, role undefined\): no fault injected/,
  );
  await expect(runActivity(acts.gameDayPreflight, crash('renamed-sandbox'))).rejects.toThrow(
    new RegExp(
      `is not the sandbox API renamed-sandbox \\(its fault routes answered HTTP 200, instance ${container}, role api\\)`,
    ),
  );
  expect(await api.health()).toBe(200);
});
