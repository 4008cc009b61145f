/**
 * The whole detection loop for P0-1, nothing started by hand: the stack's sandbox API crashes →
 * Prometheus's SystemUnreachable rule (alerts/accubooks.rules.yml, `for:` shortened by
 * STACK_ALERT_TIMING=fast) fires → the stack's Alertmanager → the intake (bearer token from
 * http_config) → P0-1 on the real worker process → restart → health 200 → the alert resolves →
 * Alertmanager's resolved notification reaches the closed incident (its follow-up) as information.
 * The hop times go to test-artifacts/alerting-hops.json (the README's figures).
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { incidentWorkflowId } from '../../client/incidents';
import { followUpStateQuery } from '../../workflows/definitions';
import { targetLeaseWorkflowId } from '../../workflows/target-lease';
import type { FollowUpState, IncidentState } from '../../workflows/types';
import { need } from '../helpers/env';
import { startReceiver, type Receiver } from '../helpers/receivers';
import { waitUntil } from '../helpers/sandbox';
import { stackApi } from '../helpers/stack-api';
import { startWorkerProcess, type WorkerProcess } from '../helpers/worker-process';
import { heldAlerts, ruleQuiet, startAlertingRig, waitFor, type AlertingRig } from './alertmanager';

const api = stackApi();
let rig: AlertingRig;
let worker: WorkerProcess;
let pd: Receiver;

beforeAll(async () => {
  pd = await startReceiver();
  // Only SystemUnreachable acts here: another rule still firing for the API from an earlier suite
  // (a flooded queue, a latency spike) must not start its runbook on this real worker.
  rig = await startAlertingRig('loop-p01', {
    intake: { alertRunbooks: { SystemUnreachable: 'P0-1' }, unknownAlerts: 'ignore' },
  });
  worker = await startWorkerProcess({
    env: {
      TEMPORAL_TASK_QUEUE: rig.taskQueue,
      NOTIFY_PAGERDUTY_EVENTS_URL: `${pd.url}/v2/enqueue`,
      PAGERDUTY_ROUTING_KEY: 'loop-routing-key',
    },
  });
});

afterAll(async () => {
  await worker?.stop();
  await rig?.close();
  await pd?.close();
  await api.healthyAgain();
});

/** Records one run's hops (ms from the fault) for the README; several runs accumulate. */
function recordHops(hops: Record<string, number>): void {
  const file = path.join(__dirname, '../../test-artifacts/alerting-hops.json');
  mkdirSync(path.dirname(file), { recursive: true });
  let runs: Record<string, number>[] = [];
  try {
    runs = JSON.parse(readFileSync(file, 'utf8')) as Record<string, number>[];
  } catch {
    runs = [];
  }
  writeFileSync(file, JSON.stringify([...runs, { at: Date.now(), ...hops }], null, 2));
}

test('a crash is detected by the rule, goes through Alertmanager, and P0-1 restarts the API', async () => {
  const container = need('ACCUBOOKS_API_CONTAINER');
  // An earlier suite's crash (or a scrape that timed out under load) may still be pending in
  // Prometheus or held by Alertmanager: start from a quiet state.
  await api.healthyAgain();
  await waitUntil(
    'no SystemUnreachable pending, firing or held for the API',
    async () =>
      (await ruleQuiet('SystemUnreachable', container)) &&
      (await heldAlerts({ alertname: 'SystemUnreachable', service: container })).every(
        (a) => a.status.state !== 'active',
      ),
    60_000,
  );
  // The API's target guard (one long-lived workflow per target) left by an earlier suite runs on
  // that suite's task queue, whose worker is gone: P0-1 here would wait for its lease forever.
  const guard = rig.client.workflow.getHandle(targetLeaseWorkflowId(container));
  const g = await guard.describe().catch(() => undefined);
  if (g?.status.name === 'RUNNING' && g.taskQueue !== rig.taskQueue)
    await guard.terminate(`loop test: a guard left on task queue ${g.taskQueue}, which no worker polls now`);
  const t0 = Date.now();
  const before = await api.crash();

  const ours = () => rig.of(container, 'SystemUnreachable').filter((r) => r.at >= t0);
  await waitFor(
    'the SystemUnreachable notification to start P0-1',
    () => ours().some((r) => r.outcome === 'started'),
    60_000,
  );
  const start = ours().find((r) => r.outcome === 'started')!;
  // This crash's episode: this alert from this start.
  const episode = () =>
    ours().filter(
      (r) =>
        r.alert.event.fingerprint === start.alert.event.fingerprint &&
        r.alert.event.startsAt === start.alert.event.startsAt,
    );
  const handle = rig.client.workflow.getHandle(incidentWorkflowId('P0-1', container));
  const final = (await handle.result()) as IncidentState;
  await api.expectRestartedByP01(final, before);
  expect(final.trigger).toMatchObject({
    source: 'alert',
    alertName: 'SystemUnreachable',
    startedBy: 'alertmanager (receiver accubooks-runbooks)',
    fingerprint: start.alert.event.fingerprint,
    startsAt: start.alert.event.startsAt,
  });
  expect(final.trigger.labels).toMatchObject({ runbook: 'P0-1', severity: 'P0', service: container });

  // Prometheus sees the API again, the alert resolves, Alertmanager sends the resolution: it
  // reaches the closed incident through its follow-up, as information only.
  await waitFor(
    'the resolved notification',
    () => episode().some((r) => r.alert.status === 'resolved'),
    60_000,
  );
  const resolvedAt = episode().find((r) => r.alert.status === 'resolved')!;
  // Where it lands depends on the race between P0-1's verify step and Prometheus's next
  // evaluation: the running incident counts it, or the closed one's follow-up records it.
  expect(['joined', 'recorded']).toContain(resolvedAt.outcome);
  if (resolvedAt.outcome === 'joined') {
    expect(final.alerts.resolved).toBeGreaterThanOrEqual(1);
    expect(final.alerts.lastStatus).toBe('resolved');
  } else {
    let f: FollowUpState | undefined;
    await waitUntil('the follow-up to record it', async () => {
      f = await rig.client.workflow
        .getHandle(final.followUp!.workflowId)
        .query(followUpStateQuery)
        .catch(() => undefined);
      return (f?.alertAfterClose?.resolved ?? 0) >= 1;
    });
    expect(f!.alertAfterClose!.note).toMatch(/^resolved notification \d+ s after resolution$/);
  }
  // One alert episode, one incident: every notification of it joined, was recorded, or started it once.
  expect(ours().filter((r) => r.outcome === 'started')).toHaveLength(1);
  expect((await handle.describe()).status.name).toBe('COMPLETED');

  const firstAction = final.steps.find((s) => s.name === 'restart');
  recordHops({
    ruleFiring: Date.parse(start.alert.event.startsAt!) - t0,
    atIntake: start.at - t0,
    incidentStarted: Date.parse(final.mttr.remediationStartedAt) - t0,
    firstAction: Date.parse(firstAction?.startedAt ?? '') - t0,
    resolved: Date.parse(final.mttr.resolvedAt!) - t0,
    resolvedNotification: resolvedAt.at - t0,
  });
});
