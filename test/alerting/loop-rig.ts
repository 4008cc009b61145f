/**
 * The rig of the whole-loop suites (fault → Prometheus rule → the stack's Alertmanager → intake →
 * runbook on the real worker process → fix → resolved → resolved notification): the intake where
 * the stack's Alertmanager sends, a real worker process on its task queue, a PagerDuty receiver,
 * and the steps every loop shares (a quiet start, the episode of one fault, the resolved
 * notification reaching the incident, the hop figures for the README).
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { incidentWorkflowId, type StartableRunbook } from '../../client/incidents';
import type { RunbookId } from '../../definitions/types';
import { RATE_WINDOW } from '../../definitions/policies/api-queries';
import { followUpStateQuery } from '../../definitions/messages';
import { targetLeaseWorkflowId } from '../../definitions/target-guard';
import type { FollowUpState, IncidentState } from '../../definitions/types';
import { need } from '../../rig/env';
import { startReceiver, type Receiver } from '../../rig/receivers';
import { waitUntil } from '../../rig/sandbox';
import { startWorkerProcess, type WorkerProcess } from '../../rig/worker-process';
import {
  heldAlerts,
  ruleQuiet,
  startAlertingRig,
  waitFor,
  type AlertingRig,
  type Received,
} from './alertmanager';

/**
 * The rate() range of the stack's alert rules (STACK_ALERT_RATE_WINDOW, scripts/stack.sh: 15 s
 * under scripts/test.sh; empty = the rules' own). The loops pass it to P1-1 and P1-2 as their
 * rateWindow, so that the runbook's verification and the alert agree on "resolved", as they do in
 * production with the rules' range.
 */
export const stackRateWindow = process.env.STACK_ALERT_RATE_WINDOW || RATE_WINDOW;

export interface LoopRig {
  rig: AlertingRig;
  worker: WorkerProcess;
  pd: Receiver;
  close(): Promise<void>;
}

/**
 * Only the alerts in `alertRunbooks` act: another rule still firing for the API from an earlier
 * suite must not start its runbook on this real worker. `runbookPolicies`: the intake's overrides
 * for the incidents it starts (shorter verification windows than the runbook's minutes).
 */
export async function startLoopRig(
  name: string,
  opts: {
    alertRunbooks: Record<string, RunbookId>;
    runbookPolicies?: Partial<Record<RunbookId, Record<string, unknown>>>;
  },
): Promise<LoopRig> {
  const pd = await startReceiver();
  const rig = await startAlertingRig(name, {
    intake: {
      alertRunbooks: opts.alertRunbooks,
      unknownAlerts: 'ignore',
      runbookPolicies: opts.runbookPolicies,
    },
  });
  const worker = await startWorkerProcess({
    env: {
      TEMPORAL_TASK_QUEUE: rig.taskQueue,
      NOTIFY_PAGERDUTY_EVENTS_URL: `${pd.url}/v2/enqueue`,
      PAGERDUTY_ROUTING_KEY: 'loop-routing-key',
    },
  });
  return {
    rig,
    worker,
    pd,
    async close() {
      await worker.stop();
      await rig.close();
      await pd.close();
    },
  };
}

/**
 * Starts from a quiet state: the alert neither pending nor firing in Prometheus nor active in
 * Alertmanager for the API (an earlier suite's fault may take a rate window to fade); no
 * incident of the runbook on the API left running by an earlier (killed) run, which the alert would
 * join; and no target guard of the API left on an earlier suite's task queue, whose worker is gone
 * (the runbook would wait for its lease forever).
 */
export async function quietStart(
  l: LoopRig,
  alert: string,
  runbook: StartableRunbook,
  timeoutMs = 120_000,
): Promise<void> {
  const container = need('ACCUBOOKS_API_CONTAINER');
  await waitUntil(
    `no ${alert} pending, firing or held for the API`,
    async () =>
      (await ruleQuiet(alert, container)) &&
      (await heldAlerts({ alertname: alert, service: container })).every((a) => a.status.state !== 'active'),
    timeoutMs,
  );
  // Any incident still running now is a leftover, even on this rig's task queue: an earlier
  // suite's episode can reach this rig's intake (Alertmanager re-sends it) before the rule quiets.
  const leftover = l.rig.client.workflow.getHandle(incidentWorkflowId(runbook, container));
  const d = await leftover.describe().catch(() => undefined);
  if (d?.status.name === 'RUNNING')
    await leftover.terminate(
      `loop test: an incident left running (task queue ${d.taskQueue}) before this fault`,
    );
  const guard = l.rig.client.workflow.getHandle(targetLeaseWorkflowId(container));
  const g = await guard.describe().catch(() => undefined);
  if (g?.status.name === 'RUNNING' && g.taskQueue !== l.rig.taskQueue)
    await guard.terminate(`loop test: a guard left on task queue ${g.taskQueue}, which no worker polls now`);
}

/** The alert's notifications since the fault, and the one that started the incident. */
export async function detected(l: LoopRig, alert: string, t0: number, timeoutMs = 90_000) {
  const container = need('ACCUBOOKS_API_CONTAINER');
  const ours = () => l.rig.of(container, alert).filter((r) => r.at >= t0);
  await waitFor(
    `the ${alert} notification to start its runbook`,
    () => ours().some((r) => r.outcome === 'started'),
    timeoutMs,
  );
  const start = ours().find((r) => r.outcome === 'started')!;
  // This fault's episode: this alert from this start.
  const episode = () =>
    ours().filter(
      (r) =>
        r.alert.event.fingerprint === start.alert.event.fingerprint &&
        r.alert.event.startsAt === start.alert.event.startsAt,
    );
  return { start, episode, ours };
}

/**
 * Prometheus sees the target well again, the alert resolves, Alertmanager sends the resolution: it
 * reaches the incident as information only, counted in the running incident's state or, once it
 * closed, recorded by its follow-up (which of the two is a race between the runbook's verification
 * and Prometheus's next evaluation). Returns the resolved notification.
 */
export async function expectResolvedNotification(
  l: LoopRig,
  final: IncidentState,
  episode: () => Received[],
  timeoutMs = 180_000,
): Promise<Received> {
  await waitFor(
    'the resolved notification',
    () => episode().some((r) => r.alert.status === 'resolved'),
    timeoutMs,
  );
  const resolved = episode().find((r) => r.alert.status === 'resolved')!;
  expect(['joined', 'recorded']).toContain(resolved.outcome);
  if (resolved.outcome === 'joined') {
    expect(final.alerts.resolved).toBeGreaterThanOrEqual(1);
    expect(final.alerts.lastStatus).toBe('resolved');
  } else {
    let f: FollowUpState | undefined;
    await waitUntil('the follow-up to record it', async () => {
      f = await l.rig.client.workflow
        .getHandle(final.followUp!.workflowId)
        .query(followUpStateQuery)
        .catch(() => undefined);
      return (f?.alertAfterClose?.resolved ?? 0) >= 1;
    });
    expect(f!.alertAfterClose!.note).toMatch(/^resolved notification \d+ s after resolution$/);
  }
  // One alert episode, one incident: every notification of it joined, was recorded, or started it once.
  expect(episode().filter((r) => r.outcome === 'started')).toHaveLength(1);
  return resolved;
}

/** Records one run's hops (ms from the fault) for the README and the bench; runs accumulate. */
export function recordHops(runbook: RunbookId, hops: Record<string, number>): void {
  const file = path.join(__dirname, '../../test-artifacts/alerting-hops.json');
  mkdirSync(path.dirname(file), { recursive: true });
  let runs: Record<string, unknown>[] = [];
  try {
    runs = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>[];
  } catch {
    runs = [];
  }
  writeFileSync(file, JSON.stringify([...runs, { at: Date.now(), runbook, ...hops }], null, 2));
}

/** The hops of one loop, in ms from the fault (t0). */
export function hopsOf(
  t0: number,
  start: Received,
  final: IncidentState,
  firstAction: string,
  resolved: Received,
) {
  const step = final.steps.find((s) => s.name === firstAction);
  return {
    ruleFiring: Date.parse(start.alert.event.startsAt!) - t0,
    atIntake: start.at - t0,
    incidentStarted: Date.parse(final.mttr.remediationStartedAt) - t0,
    firstAction: Date.parse(step?.startedAt ?? '') - t0,
    resolved: Date.parse(final.mttr.resolvedAt!) - t0,
    resolvedNotification: resolved.at - t0,
  };
}
