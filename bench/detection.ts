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
import type { ChildProcessByStdio } from 'node:child_process';
import type { Readable } from 'node:stream';
import type { Client } from '@temporalio/client';
import { connectClient } from '../client/connection';
import { incidentWorkflowId, RUNBOOK_WORKFLOWS, type StartableRunbook } from '../client/incidents';
import { targetLeaseWorkflowId } from '../definitions/target-guard';
import type { IncidentState } from '../definitions/types';
import { need } from '../rig/env';
import { startReceiver } from '../rig/receivers';
import { waitUntil } from '../rig/sandbox';
import { terminateTaskQueue } from '../rig/temporal';
import { startWorkerProcess } from '../rig/worker-process';
import { loadTemporalConfig } from '../config/temporal';
import { ms, type Collected, type Figure, type Log } from './report';
import type { BenchSizes } from './sizes';
import { percentile } from './stats';

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

/** Alertmanager's and the rule's timings, refused unless the stack runs the fast ones. */
async function fastTimings(): Promise<{ groupWaitMs: number; ruleForMs: number }> {
  const t = await timings();
  if (!(t.groupWaitMs <= 5000))
    throw new Error(
      `detection: Alertmanager's group_wait is ${t.groupWaitMs} ms: run the stack with STACK_ALERT_TIMING=fast`,
    );
  return t;
}

/** The real intake process, where the stack's Alertmanager sends, and what its log lines said. */
interface LoggingIntake {
  process: ChildProcessByStdio<null, Readable, null>;
  exited: Promise<void>;
  /** Its JSON log lines say when each alert reached it ("alert started", pino `time`). */
  started: { time: number; workflowId: string }[];
  /**
   * Every outcome it logged for an alert (started, joined, recorded, ignored, failed): said when a
   * run's incident does not start.
   */
  outcomes: { time: number; workflowId?: string; msg: string }[];
}

function spawnLoggingIntake(taskQueue: string): LoggingIntake {
  const intake: LoggingIntake = {
    process: spawn(process.execPath, [INTAKE_PROCESS], {
      stdio: ['ignore', 'pipe', 'inherit'],
      env: {
        ...process.env,
        TEMPORAL_TASK_QUEUE: taskQueue,
        INTAKE_HOST: '127.0.0.1',
        INTAKE_PORT: need('STACK_INTAKE_PORT'),
        INTAKE_BEARER_TOKEN: need('STACK_INTAKE_TOKEN'),
      },
    }),
    exited: Promise.resolve(),
    started: [],
    outcomes: [],
  };
  let buffered = '';
  intake.process.stdout.on('data', (d: Buffer) => {
    buffered += d.toString();
    const lines = buffered.split('\n');
    buffered = lines.pop() ?? '';
    for (const line of lines) {
      try {
        const l = JSON.parse(line) as { msg?: string; time?: number; workflowId?: string };
        if (l.msg === 'alert started' && l.time && l.workflowId)
          intake.started.push({ time: l.time, workflowId: l.workflowId });
        if (l.msg?.startsWith('alert ') && l.time)
          intake.outcomes.push({ time: l.time, workflowId: l.workflowId, msg: l.msg });
      } catch {
        // not a log line of ours
      }
    }
  });
  intake.exited = new Promise<void>((r) => intake.process.once('exit', () => r()));
  return intake;
}

/**
 * The API's target guard ended (a fresh crash-loop budget), and any incident on the API left
 * running (by an earlier suite or a late notification of an earlier outage), which would take this
 * crash's alert or fix the API under it: each run starts clean.
 */
async function cleanSlate(client: Client, container: string): Promise<void> {
  const guard = client.workflow.getHandle(targetLeaseWorkflowId(container));
  const g = await guard.describe().catch(() => undefined);
  if (g?.status.name === 'RUNNING') await guard.terminate('bench: a fresh crash-loop budget for each run');
  for (const runbook of Object.keys(RUNBOOK_WORKFLOWS) as StartableRunbook[]) {
    const leftover = client.workflow.getHandle(incidentWorkflowId(runbook, container));
    if ((await leftover.describe().catch(() => undefined))?.status.name === 'RUNNING')
      await leftover.terminate('bench: a leftover incident on the API');
  }
}

/** Crashes the API at `t0` and waits until the intake started P0-1 for it; when it did (ms since epoch). */
async function crashUntilStarted(
  apiUrl: string,
  intake: LoggingIntake,
  workflowId: string,
  t0: number,
): Promise<number> {
  await fetch(`${apiUrl}/api/sandbox/faults`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ fault: 'crash' }),
  }).catch(() => undefined); // the process may die before it answers
  await waitUntil(
    'P0-1 started by the alert',
    () => Promise.resolve(intake.started.some((s) => s.time >= t0 && s.workflowId === workflowId)),
    120_000,
  ).catch(async (err: Error) => {
    const seen = intake.outcomes.filter((o) => o.time >= t0).map((o) => `${o.msg} (${o.workflowId ?? '-'})`);
    const held = await json<{ labels: Record<string, string>; status: { state: string } }[]>(
      `${need('ALERTMANAGER_URL')}/api/v2/alerts`,
    ).catch(() => []);
    throw new Error(
      `${err.message}; the intake logged since the crash: ${seen.join(', ') || 'nothing'}; Alertmanager holds: ${
        held.map((a) => `${a.labels.alertname}/${a.labels.service ?? '-'} ${a.status.state}`).join(', ') ||
        'nothing'
      }`,
    );
  });
  return intake.started.find((s) => s.time >= t0 && s.workflowId === workflowId)!.time;
}

/** The stack's sandbox API: its container (the incidents' target) and its URL. */
interface TheApi {
  container: string;
  apiUrl: string;
}

/** Run `i`: from a quiet start, one crash through the whole loop to P0-1 resolved; its hops. */
async function oneRun(client: Client, api: TheApi, intake: LoggingIntake, i: number): Promise<DetectionRun> {
  const { container, apiUrl } = api;
  const workflowId = incidentWorkflowId('P0-1', container);
  await waitUntil(
    'a quiet start (API healthy, no rule pending or firing for it)',
    () => quiet(container, apiUrl),
    120_000,
  );
  await cleanSlate(client, container);
  const t0 = Date.now();
  const at = await crashUntilStarted(apiUrl, intake, workflowId, t0);
  const final = (await client.workflow.getHandle(workflowId).result()) as IncidentState;
  if (final.status !== 'resolved')
    throw new Error(`detection run ${i + 1}: P0-1 ended ${final.status}: ${final.outcome}`);
  const restart = final.steps.find((s) => s.name === 'restart');
  return {
    ruleFiring: Date.parse(final.trigger.startsAt ?? '') - t0,
    atIntake: at - t0,
    incidentStarted: Date.parse(final.mttr.remediationStartedAt) - t0,
    firstAction: Date.parse(restart?.startedAt ?? '') - t0,
    resolved: Date.parse(final.mttr.resolvedAt ?? '') - t0,
  };
}

/** `runs` crashes of the stack's API, each detected and fixed by the loop; the hops of each. */
export async function detectionToAction(client: Client, runs: number, log: Log): Promise<DetectionResult> {
  const api: TheApi = { container: need('ACCUBOOKS_API_CONTAINER'), apiUrl: need('ACCUBOOKS_API_URL') };
  const { groupWaitMs, ruleForMs } = await fastTimings();
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
  const intake = spawnLoggingIntake(taskQueue);
  const results: DetectionRun[] = [];
  try {
    await waitUntil('the intake to answer', async () => {
      if (intake.process.exitCode !== null)
        throw new Error(`the intake exited (code ${intake.process.exitCode}) before it answered`);
      return fetch(`http://127.0.0.1:${need('STACK_INTAKE_PORT')}/healthz`).then(
        (r) => r.ok,
        () => false,
      );
    });
    for (let i = 0; i < runs; i++) {
      const run = await oneRun(client, api, intake, i);
      results.push(run);
      log(
        `detection run ${i + 1}/${runs}: firing +${run.ruleFiring} ms, intake +${run.atIntake} ms, first action +${run.firstAction} ms, resolved +${run.resolved} ms`,
      );
    }
  } finally {
    if (intake.process.exitCode === null) intake.process.kill('SIGTERM');
    await intake.exited;
    await worker.stop();
    await pd.close();
    // Follow-ups (24 h and more) and the guard: nothing of the benchmark outlives it.
    await terminateTaskQueue(client, taskQueue);
  }
  return { runs: results, groupWaitMs, ruleForMs };
}

/** 7. The detection benchmark and its figures, over a client of its own. */
export async function detectionBenchmark(sizes: BenchSizes, log: Log, out: Collected): Promise<void> {
  log(
    `7. detection → action: ${sizes.detectionRuns} crashes of the stack's API through the whole alert loop`,
  );
  const client = await connectClient(loadTemporalConfig());
  try {
    const d = await detectionToAction(client, sizes.detectionRuns, log);
    out.raw.detection = d;
    out.figures.push(...detectionFigures(d));
  } finally {
    await client.connection.close();
  }
}

/** One row per hop (p50, p99 over the runs), and the intake's and runbook's share beside group_wait. */
function detectionFigures(d: DetectionResult): Figure[] {
  const hop = (f: (r: DetectionRun) => number) => d.runs.map(f);
  const pp = (v: number[]) => `p50 ${ms(percentile(v, 50))}, p99 ${ms(percentile(v, 99))} (n=${v.length})`;
  const rows: [string, string, number[]][] = [
    [
      'fault-to-firing',
      `Detection: fault → rule firing (Prometheus, for: ${ms(d.ruleForMs)})`,
      hop((r) => r.ruleFiring),
    ],
    [
      'firing-to-intake',
      `Detection: rule firing → notification at the intake (Alertmanager, group_wait ${ms(d.groupWaitMs)})`,
      hop((r) => r.atIntake - r.ruleFiring),
    ],
    [
      'intake-to-action',
      'Detection: notification → first runbook action (intake + Temporal + P0-1 checks)',
      hop((r) => r.firstAction - r.atIntake),
    ],
    ['fault-to-action', 'Detection: fault → first runbook action (the restart)', hop((r) => r.firstAction)],
  ];
  const figures: Figure[] = rows.map(([id, figure, v]) => ({
    id: `detection-${id}`,
    figure,
    target: '(information)',
    measured: pp(v),
    pass: null,
    data: { p50: percentile(v, 50), p99: percentile(v, 99), samples: v },
  }));
  const share = hop((r) => r.firstAction - r.atIntake);
  figures.push({
    id: 'detection-share',
    figure:
      "Detection: intake + runbook's share (notification → first action) vs Alertmanager's own group_wait",
    target: '(information)',
    measured: `p50 ${(percentile(share, 50) / d.groupWaitMs).toFixed(2)} × group_wait ${ms(d.groupWaitMs)}; ${(percentile(share, 50) / 10_000).toFixed(2)} × the production 10 s`,
    pass: null,
    data: { groupWaitMs: d.groupWaitMs },
  });
  return figures;
}
