/**
 * P0-2 when the configured application roles (ACCUBOOKS_DB_ROLES) match no session: the runbook
 * says so, in the step, a decision, the state and the outcome, instead of reporting "0 idle sessions
 * terminated" as if there had been nothing to kill. Real sandbox leaking its pool, real PostgreSQL,
 * real restart, on the dev server.
 */
import { stateQuery } from '../../definitions/messages';
import type { IncidentState } from '../../definitions/types';
import type { PoolExhaustionPolicy } from '../../definitions/policies/pool-exhaustion';
import { uniqueId } from '../../rig/env';
import { startRunbookRig, type RunbookRig } from '../../rig/runbook-rig';

let rig: RunbookRig;

beforeAll(async () => {
  // The sandbox's sessions are the role accubooks; this worker is configured for another one.
  rig = await startRunbookRig('p0-2-roles', {}, { ACCUBOOKS_DB_ROLES: 'abk_nobody' });
}, 120_000);

afterAll(async () => {
  await rig?.close();
}, 120_000);

test('a role setting that matches no session is reported as such, not as "0 idle sessions"', async () => {
  const sb = await rig.sandbox('abk-p02-roles', { SELF_TRAFFIC_RPS: '1' });
  await sb.inject({ fault: 'leak-pool', count: 10 });
  await new Promise((r) => setTimeout(r, 2500)); // older than the test's idle threshold

  const handle = await rig.start('dev', {
    runbook: 'P0-2',
    target: sb.name,
    trigger: { source: 'alert', alertName: 'DatabasePoolExhausted', values: { utilization: 1 } },
    workflowId: uniqueId('wf-p02-roles'),
    policy: {
      applicationName: `accubooks-sandbox:${sb.name}`.slice(0, 63),
      idleTerminateAfterMs: 2_000,
      resolveWindowMs: 3_000,
      sampleIntervalMs: 1_000,
      maxSampleIntervalMs: 2_000,
      stopTimeoutSec: 2,
    } satisfies Partial<PoolExhaustionPolicy>,
  });
  const state = (await handle.result()) as IncidentState;

  const kill = state.steps.find((s) => s.name === 'kill-idle');
  expect(kill?.status).toBe('done');
  expect(kill?.result).toMatch(
    /^none matched the role abk_nobody: no session of this role in the database, nothing terminated \(check ACCUBOOKS_DB_ROLES\); \d+ sessions of other roles idle > 2 seconds left alone$/,
  );
  const scope = state.checks.killScope as {
    roles: string[];
    matchedSessions: number;
    idleOtherRoles: number;
  };
  expect(scope.roles).toEqual(['abk_nobody']);
  expect(scope.matchedSessions).toBe(0);
  expect(scope.idleOtherRoles).toBeGreaterThanOrEqual(10);
  expect(state.checks.terminated).toBe(0);
  expect(state.decisions.join('\n')).toMatch(
    /Kill idle connections matched nothing: none matched the role abk_nobody/,
  );
  // The restart still frees the pool; the outcome does not claim the kill did anything.
  expect(state.status).toBe('resolved');
  expect(state.outcome).toMatch(
    /; no session matched the role\(s\) abk_nobody, nothing terminated; restarted$/,
  );
  expect((await handle.query(stateQuery)).status).toBe('resolved');
}, 180_000);
