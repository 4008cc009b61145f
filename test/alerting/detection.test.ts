/**
 * Detection for every metric runbook, nothing started by hand: a fault injected into the stack's
 * sandbox API (sandbox/faults.ts) → its Prometheus rule (alerts/accubooks.rules.yml, `for:`
 * shortened by STACK_ALERT_TIMING=fast) fires → the stack's Alertmanager → the intake → the right
 * runbook on the right target. No worker runs here, so no runbook acts on the shared API: the
 * incident is checked as Temporal has it (type, search attributes, the alert episode in its memo)
 * and terminated. P0-1's whole loop, fix and resolution included, is system-down.loop.test.ts.
 */
import {
  RUNBOOK_WORKFLOWS,
  incidentWorkflowId,
  type IncidentMemo,
  type StartableRunbook,
} from '../../client/incidents';
import { RunbookIdKey, TargetServiceKey } from '../../workflows/search-attributes';
import { need } from '../../rig/env';
import { stackApi } from '../../rig/stack-api';
import { testDocker, waitUntil } from '../../rig/sandbox';
import { heldAlerts, ruleQuiet, startAlertingRig, waitFor, type AlertingRig } from './alertmanager';

const container = need('ACCUBOOKS_API_CONTAINER');
const api = stackApi();
let rig: AlertingRig;

beforeAll(async () => {
  rig = await startAlertingRig('detection');
});
afterEach(async () => {
  await api.faults('DELETE');
});
afterAll(async () => {
  await rig?.close();
  // Leaked pool connections, a flooded queue: a restart (what the runbooks would do) leaves the
  // API as the next suites expect it.
  await testDocker().getContainer(container).restart({ t: 5 });
  await api.healthyAgain();
});

// The sandbox's faults for the seed's detections (POOL_MAX is 10; self-traffic 5 requests/s).
// Leaking the pool also slows requests (they wait for a connection): it goes last.
const cases = [
  { runbook: 'P1-2', alert: 'HighLatency', fault: { fault: 'slow-queries', seconds: 2 } },
  { runbook: 'P1-1', alert: 'HighErrorRate', fault: { fault: 'error-rate', rate: 0.5 } },
  { runbook: 'P1-3', alert: 'QueueOverflow', fault: { fault: 'queue-flood', jobs: 1000 } },
  { runbook: 'P0-2', alert: 'DatabasePoolExhaustion', fault: { fault: 'leak-pool', count: 10 } },
] as const;

/** An incident of this runbook on the API left running by an earlier run (a killed demo) would take the alert. */
async function noneRunning(runbook: StartableRunbook): Promise<void> {
  const handle = rig.client.workflow.getHandle(incidentWorkflowId(runbook, container));
  const d = await handle.describe().catch(() => undefined);
  if (d?.status.name === 'RUNNING') await handle.terminate('detection test: a leftover of an earlier run');
}

test.each(cases)('$fault.fault → $alert fires → Alertmanager → intake → $runbook on the API', async (c) => {
  await noneRunning(c.runbook);
  // The rules rate over a window (1 min; STACK_ALERT_RATE_WINDOW under scripts/test.sh): an
  // earlier fault's effect may take that long to fade.
  await waitUntil(
    `no ${c.alert} pending or firing for the API`,
    async () =>
      (await ruleQuiet(c.alert, container)) &&
      (await heldAlerts({ alertname: c.alert, service: container })).every(
        (a) => a.status.state !== 'active',
      ),
    120_000,
  );
  const t0 = Date.now();
  // A minute at most, should the test fail before it clears them.
  await api.faults('POST', { ...c.fault, ttlSeconds: 60 });
  const ours = () => rig.of(container, c.alert).filter((r) => r.at >= t0);
  await waitFor(
    `${c.alert} to start ${c.runbook}`,
    () => ours().some((r) => r.outcome === 'started'),
    90_000,
  );
  const start = ours().find((r) => r.outcome === 'started')!;
  expect(start.alert).toMatchObject({ runbook: c.runbook, target: container });

  const handle = rig.client.workflow.getHandle(incidentWorkflowId(c.runbook, container));
  const d = await handle.describe();
  expect(d.type).toBe(RUNBOOK_WORKFLOWS[c.runbook]);
  expect(d.taskQueue).toBe(rig.taskQueue);
  expect(d.typedSearchAttributes.get(RunbookIdKey)).toBe(c.runbook);
  expect(d.typedSearchAttributes.get(TargetServiceKey)).toBe(container);
  const memo = d.memo?.incident as IncidentMemo;
  expect(memo.episode).toEqual({
    fingerprint: start.alert.event.fingerprint,
    startsAt: start.alert.event.startsAt,
  });
  await handle.terminate('detection test: checked, no runbook runs here');
});
