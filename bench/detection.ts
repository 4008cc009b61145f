/**
 * Detection to action, hop by hop, on the real loop: the stack's sandbox API crashes (its fault
 * injection) → Prometheus's SystemUnreachable rule fires → the stack's Alertmanager → the real
 * intake process (where Alertmanager sends: STACK_INTAKE_PORT) → P0-1 on the real worker process
 * → its first action (the restart) → resolved. Needs the stack with the sandbox and
 * STACK_ALERT_TIMING=fast (`for:` 3 s, group_wait 1 s); bench/run.ts starts it so.
 *
 * Each run starts quiet (no SystemUnreachable pending, firing or held), and the API's target guard
 * is ended after each run: five crashes of one target in a few minutes would otherwise spend its
 * crash-loop budget (3 restarts), which is the guard's job, not what this measures.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import { incidentWorkflowId, RUNBOOK_WORKFLOWS, type StartableRunbook } from '../client/incidents';
import { targetLeaseWorkflowId } from '../definitions/target-guard';
import type { IncidentState } from '../definitions/types';
import { need } from '../rig/env';
import { startReceiver } from '../rig/receivers';
import { waitUntil } from '../rig/sandbox';
import { terminateTaskQueue } from '../rig/temporal';
import { startWorkerProcess } from '../rig/worker-process';

/** One run, in ms from the fault. */
export interface DetectionRun {
  ruleFiring: number;
  atIntake: number;
  incidentStarted: number;
  firstAction: number;
  resolved: number;
}

export interface DetectionResult {
  runs: DetectionRun[];
  /** Alertmanager's group_wait as it runs (from its /api/v2/status), ms. */
  groupWaitMs: number;
  /** The rule's `for:` as Prometheus runs it, ms. */
  ruleForMs: number;
}

/** The compiled intake, from dist/bench/ (npm run bench) or from bench/ under Jest (built first). */
const INTAKE_PROCESS = path.resolve(
  __dirname,
  '..',
  __dirname.includes(`${path.sep}dist${path.sep}`) ? '' : 'dist',
  'client/intake/main.js',
);
const durationMs = (s: string) =>
  [...s.matchAll(/(\d+)(ms|s|m|h)/g)].reduce(
    (t, [, n, u]) => t + Number(n) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[u as 'ms'],
    0,
  );

async function json<T>(url: string): Promise<T> {
  const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
  if (!res.ok) throw new Error(`GET ${url}: HTTP ${res.status}`);
  return (await res.json()) as T;
}

/** Alertmanager's route group_wait and the SystemUnreachable rule's `for:`, as they run now. */
async function timings(): Promise<{ groupWaitMs: number; ruleForMs: number }> {
  const status = await json<{ config: { original: string } }>(`${need('ALERTMANAGER_URL')}/api/v2/status`);
  const groupWait = /^\s*group_wait:\s*(\S+)/m.exec(status.config.original)?.[1] ?? '';
  const rules = await json<{
    data: { groups: { rules: { name: string; type: string; duration?: number }[] }[] };
  }>(`${need('PROMETHEUS_URL')}/api/v1/rules?type=alert`);
  const rule = rules.data.groups.flatMap((g) => g.rules).find((r) => r.name === 'SystemUnreachable');
  return { groupWaitMs: durationMs(groupWait), ruleForMs: (rule?.duration ?? NaN) * 1000 };
}

async function quiet(container: string, apiUrl: string): Promise<boolean> {
  const health = await fetch(`${apiUrl}/api/monitoring/health`, { signal: AbortSignal.timeout(2000) }).then(
    (r) => r.status,
    () => null,
  );
  if (health !== 200) return false;
  const prom = await json<{ data: { alerts: { labels: Record<string, string> }[] } }>(
    `${need('PROMETHEUS_URL')}/api/v1/alerts`,
  );
  // No rule pending or firing for the API, SystemUnreachable or another: an earlier suite's fault
  // (rates over a minute) would start its own runbook, whose fix (a restart) hides this crash.
  if (prom.data.alerts.some((a) => a.labels.service === container)) return false;
  const held = await json<{ status: { state: string } }[]>(
    `${need('ALERTMANAGER_URL')}/api/v2/alerts?filter=${encodeURIComponent(`service="${container}"`)}`,
  );
  return held.every((a) => a.status.state !== 'active');
}

/** `runs` crashes of the stack's API, each detected and fixed by the loop; the hops of each. */
export async function detectionToAction(
  client: Client,
  runs: number,
  log: (line: string) => void,
): Promise<DetectionResult> {
  const container = need('ACCUBOOKS_API_CONTAINER');
  const apiUrl = need('ACCUBOOKS_API_URL');
  const { groupWaitMs, ruleForMs } = await timings();
  if (!(groupWaitMs <= 5000))
    throw new Error(
      `detection: Alertmanager's group_wait is ${groupWaitMs} ms: run the stack with STACK_ALERT_TIMING=fast`,
    );
  const taskQueue = `bench-detection-${randomUUID()}`;
  const pd = await startReceiver();
  const worker = await startWorkerProcess({
    name: 'the detection worker',
    env: {
      TEMPORAL_TASK_QUEUE: taskQueue,
      NOTIFY_PAGERDUTY_EVENTS_URL: `${pd.url}/v2/enqueue`,
      PAGERDUTY_ROUTING_KEY: 'bench-routing-key',
    },
  });
  // The real intake process, where the stack's Alertmanager sends; its JSON log lines say when
  // each alert reached it ("alert started", pino `time`).
  const started: { time: number; workflowId: string }[] = [];
  // Every outcome the intake logged for an alert (started, joined, recorded, ignored, failed): said
  // when a run's incident does not start.
  const outcomes: { time: number; workflowId?: string; msg: string }[] = [];
  const intake = spawn(process.execPath, [INTAKE_PROCESS], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: {
      ...process.env,
      TEMPORAL_TASK_QUEUE: taskQueue,
      INTAKE_HOST: '127.0.0.1',
      INTAKE_PORT: need('STACK_INTAKE_PORT'),
      INTAKE_BEARER_TOKEN: need('STACK_INTAKE_TOKEN'),
    },
  });
  let buffered = '';
  intake.stdout.on('data', (d: Buffer) => {
    buffered += d.toString();
    const lines = buffered.split('\n');
    buffered = lines.pop() ?? '';
    for (const line of lines) {
      try {
        const l = JSON.parse(line) as { msg?: string; time?: number; workflowId?: string };
        if (l.msg === 'alert started' && l.time && l.workflowId)
          started.push({ time: l.time, workflowId: l.workflowId });
        if (l.msg?.startsWith('alert ') && l.time)
          outcomes.push({ time: l.time, workflowId: l.workflowId, msg: l.msg });
      } catch {
        // not a log line of ours
      }
    }
  });
  const exited = new Promise<void>((r) => intake.once('exit', () => r()));
  const results: DetectionRun[] = [];
  const workflowId = incidentWorkflowId('P0-1', container);
  try {
    await waitUntil('the intake to answer', async () => {
      if (intake.exitCode !== null)
        throw new Error(`the intake exited (code ${intake.exitCode}) before it answered`);
      return fetch(`http://127.0.0.1:${need('STACK_INTAKE_PORT')}/healthz`).then(
        (r) => r.ok,
        () => false,
      );
    });
    for (let i = 0; i < runs; i++) {
      await waitUntil(
        'a quiet start (API healthy, no rule pending or firing for it)',
        () => quiet(container, apiUrl),
        120_000,
      );
      const guard = client.workflow.getHandle(targetLeaseWorkflowId(container));
      const g = await guard.describe().catch(() => undefined);
      if (g?.status.name === 'RUNNING')
        await guard.terminate('bench: a fresh crash-loop budget for each run');
      // An incident on the API left running (by an earlier suite or a late notification of an
      // earlier outage) would take this crash's alert, or fix the API under it: each run starts clean.
      for (const runbook of Object.keys(RUNBOOK_WORKFLOWS) as StartableRunbook[]) {
        const leftover = client.workflow.getHandle(incidentWorkflowId(runbook, container));
        if ((await leftover.describe().catch(() => undefined))?.status.name === 'RUNNING')
          await leftover.terminate('bench: a leftover incident on the API');
      }
      const t0 = Date.now();
      await fetch(`${apiUrl}/api/sandbox/faults`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ fault: 'crash' }),
      }).catch(() => undefined); // the process may die before it answers
      await waitUntil(
        'P0-1 started by the alert',
        () => Promise.resolve(started.some((s) => s.time >= t0 && s.workflowId === workflowId)),
        120_000,
      ).catch(async (err: Error) => {
        const seen = outcomes.filter((o) => o.time >= t0).map((o) => `${o.msg} (${o.workflowId ?? '-'})`);
        const held = await json<{ labels: Record<string, string>; status: { state: string } }[]>(
          `${need('ALERTMANAGER_URL')}/api/v2/alerts`,
        ).catch(() => []);
        throw new Error(
          `${err.message}; the intake logged since the crash: ${seen.join(', ') || 'nothing'}; Alertmanager holds: ${
            held
              .map((a) => `${a.labels.alertname}/${a.labels.service ?? '-'} ${a.status.state}`)
              .join(', ') || 'nothing'
          }`,
        );
      });
      const at = started.find((s) => s.time >= t0 && s.workflowId === workflowId)!.time;
      const final = (await client.workflow.getHandle(workflowId).result()) as IncidentState;
      if (final.status !== 'resolved')
        throw new Error(`detection run ${i + 1}: P0-1 ended ${final.status}: ${final.outcome}`);
      const restart = final.steps.find((s) => s.name === 'restart');
      const run: DetectionRun = {
        ruleFiring: Date.parse(final.trigger.startsAt ?? '') - t0,
        atIntake: at - t0,
        incidentStarted: Date.parse(final.mttr.remediationStartedAt) - t0,
        firstAction: Date.parse(restart?.startedAt ?? '') - t0,
        resolved: Date.parse(final.mttr.resolvedAt ?? '') - t0,
      };
      results.push(run);
      log(
        `detection run ${i + 1}/${runs}: firing +${run.ruleFiring} ms, intake +${run.atIntake} ms, first action +${run.firstAction} ms, resolved +${run.resolved} ms`,
      );
    }
  } finally {
    if (intake.exitCode === null) intake.kill('SIGTERM');
    await exited;
    await worker.stop();
    await pd.close();
    // Follow-ups (24 h and more) and the guard: nothing of the benchmark outlives it.
    await terminateTaskQueue(client, taskQueue);
  }
  return { runs: results, groupWaitMs, ruleForMs };
}
