/**
 * P0-1 on the time-skipping server, with real activities against a real sandbox container, the real
 * Docker engine and real HTTP receivers for the pages. Proves the seed's 15-minute escalation rule.
 */
import { systemDown } from '../../workflows';
import { stateQuery } from '../../definitions/messages';
import type { IncidentInput, IncidentState } from '../../definitions/types';
import type { SystemDownPolicy } from '../../definitions/policies/system-down';
import { startIncidentRig, type IncidentRig } from '../../rig/incident-rig';
import { uniqueId } from '../../rig/env';
import { waitUntil } from '../../rig/sandbox';

let rig: IncidentRig;

beforeAll(async () => {
  rig = await startIncidentRig({ name: 'p01', pagerDutyRoutingKey: 'test-routing-key', chatHook: 'oncall' });
  await rig.startWorker();
});

afterAll(async () => {
  await rig?.close();
});

const input = (policy: Partial<SystemDownPolicy> = {}): IncidentInput<SystemDownPolicy> => ({
  incidentId: uniqueId('P0-1'),
  target: rig.sandbox.name,
  trigger: { source: 'alert', alertName: 'SystemUnreachable', labels: { service: rig.sandbox.name } },
  // Only the real-time parts are shortened; the escalation rule keeps its seed default.
  policy: { verifyWindowMs: 8_000, verifyIntervalMs: 500, ...policy },
});

test('a crashed API is restarted, verified healthy, and resolved without escalation', async () => {
  await rig.sandbox.inject({ fault: 'crash' });
  await waitUntil('container to exit', async () => (await rig.sandbox.health()) === null);
  const before = await rig.sandbox.startedAt();

  const state: IncidentState = await rig.env.client.workflow.execute(systemDown, {
    taskQueue: rig.taskQueue,
    workflowId: uniqueId('wf-p01-crash'),
    args: [input()],
  });

  expect(state.status).toBe('resolved');
  expect(state.steps.map((s) => [s.name, s.status])).toEqual([
    ['check-health', 'done'],
    ['check-logs', 'done'],
    ['restart', 'done'],
    ['verify', 'done'],
  ]);
  expect(state.checks.restarts).toBe(1);
  expect(state.escalations).toHaveLength(0);
  expect(state.mttr.timeToResolveMs).toBeLessThan(state.mttr.targetMs);
  expect(state.mttr.breached).toBe(false);
  expect(await rig.sandbox.startedAt()).not.toBe(before);
  expect(await rig.sandbox.health()).toBe(200);
  expect(rig.pagerDuty.requests).toHaveLength(0);
});

test('a healthy API at the first check is not restarted', async () => {
  const before = await rig.sandbox.startedAt();
  const state = await rig.env.client.workflow.execute(systemDown, {
    taskQueue: rig.taskQueue,
    workflowId: uniqueId('wf-p01-healthy'),
    args: [input()],
  });
  expect(state.status).toBe('resolved');
  expect(state.steps.find((s) => s.name === 'restart')?.status).toBe('skipped');
  expect(await rig.sandbox.startedAt()).toBe(before);
});

test('an API still down after restarts pages the next tier at 15 minutes, then resolves when health returns', async () => {
  await rig.sandbox.inject({ fault: 'fail-health', persist: true });
  const handle = await rig.env.client.workflow.start(systemDown, {
    taskQueue: rig.taskQueue,
    workflowId: uniqueId('wf-p01-down'),
    args: [input({ maxRestarts: 1 })],
  });
  await waitUntil(
    'the restart and failed verification',
    async () => {
      const s = await handle.query(stateQuery);
      return s.steps.some((step) => step.name === 'verify' && step.status !== 'running');
    },
    60_000,
  );

  await rig.env.sleep('14 minutes');
  let state = await handle.query(stateQuery);
  expect(state.escalations).toHaveLength(0);
  expect(state.status).toBe('remediating');

  await rig.env.sleep('2 minutes');
  state = await handle.query(stateQuery);
  expect(state.escalations).toHaveLength(1);
  expect(state.status).toBe('escalated');
  const escalatedAfter = Date.parse(state.escalations[0].at) - Date.parse(state.mttr.remediationStartedAt);
  expect(escalatedAfter).toBeGreaterThanOrEqual(15 * 60_000);
  expect(escalatedAfter).toBeLessThan(16 * 60_000);
  expect(state.escalations[0].delivered.sort()).toEqual(['pagerduty', 'slack']);
  const page = rig.pagerDuty.requests.at(-1)!.body as {
    routing_key: string;
    dedup_key: string;
    payload: { severity: string };
  };
  expect(page.routing_key).toBe('test-routing-key');
  expect(page.payload.severity).toBe('critical');
  expect(page.dedup_key).toBe(`${state.incidentId}/escalation-1`);

  // The fix arrives from outside (a person); the runbook's re-checks notice and resolve.
  await rig.sandbox.clearFaults();
  const final = await handle.result();
  expect(final.status).toBe('resolved');
  expect(final.outcome).toBe('health returned to 200');
  expect(final.checks.restarts).toBe(1);
  expect(final.escalations).toHaveLength(1);
  expect(final.mttr.timeToResolveMs).toBeGreaterThan(15 * 60_000);
});
