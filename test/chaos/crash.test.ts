/**
 * Worker crashes at every step (issue 11). Each runbook runs as the real worker process
 * (dist/worker/main.js) against the real stack: first a baseline without a crash, then the same
 * incident again on a fresh target while the worker is killed with SIGKILL at each distinct activity
 * type of the baseline's path in turn (after the activity did its work and before its result
 * reached the server, the hardest moment for idempotency), a new worker process started each time.
 *
 * Asserted per runbook: the same outcome as the baseline; every side effect seen once in the outside
 * system (container starts/stops from the Docker engine's /events stream, pages and messages at the
 * receivers, terminated or cancelled PostgreSQL sessions from the server's own log, refunds at the
 * recording Stripe proxy with one Idempotency-Key per charge on every attempt, mails at the SMTP
 * server, evidence files on disk). The table is printed and written to test-artifacts/chaos-crash.json.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { Pool } from 'pg';
import type { Client, WorkflowHandle } from '@temporalio/client';
import { connectClient } from '../../client/connection';
import { startIncident, type StartIncidentOptions } from '../../client/incidents';
import { submitApproval } from '../../client/approvals';
import { loadTemporalConfig } from '../../config/temporal';
import { stateQuery } from '../../definitions/messages';
import type { IncidentState } from '../../definitions/types';
import { queueFloodPolicy, slowQueriesPolicy } from '../../rig/scenarios/kit';
import { need, uniqueId } from '../../rig/env';
import { startReceiver, type Receiver } from '../../rig/receivers';
import { startSandbox, testDocker, waitUntil, type Sandbox } from '../../rig/sandbox';
import { codeCount, startApprovalWorld, type ApprovalWorld } from '../../rig/approvals';
import { startStripeProxy } from '../../rig/stripe-proxy';
import { startTestPrometheus, type TestPrometheus } from '../../rig/prometheus';
import { chaosBundle, recordDockerEvents, repo, WorkerRig, type DockerEvent, type Kill } from './rig';

jest.setTimeout(15 * 60_000);

const docker = testDocker();
let client: Client;
let bundle: string;
let dockerEvents: { events: DockerEvent[]; close(): void };
let prom: TestPrometheus;
let redis: Redis;
let admin: Pool;
const cleanups: (() => Promise<unknown>)[] = [];
const t0 = Date.now();

// ---------------------------------------------------------------------------------------------
// What one run sees

type Effects = Record<string, number>;

interface Run {
  ctx: RunCtx;
  state?: IncidentState;
  error?: string;
  /** Activity types in order of first scheduling in the incident's history. */
  activityTypes: string[];
  /** Activity types whose result was lost (kill) and that completed on a later attempt. */
  retried: Record<string, { attempts: number; completed: boolean }>;
  kills: Kill[];
  workers: number;
  effects: Effects;
  /** Where the runbook's own account disagrees with the outside system. */
  problems: string[];
  ms: number;
}

interface RunCtx {
  target: string;
  env: Record<string, string>;
  start(opts: Pick<StartIncidentOptions, 'client' | 'taskQueue' | 'workflowId'>): Promise<WorkflowHandle>;
  /** Background driving while the incident runs (approvals, clearing a fault); ends with the incident. */
  drive?(handle: WorkflowHandle, done: () => boolean): Promise<void>;
  effects(
    state: IncidentState | undefined,
    since: number,
  ): Promise<{ effects: Effects; problems: string[] }> | { effects: Effects; problems: string[] };
  cleanup(): Promise<void>;
}

interface Scenario {
  runbook: string;
  title: string;
  /** A fresh target in its fault, with its own receivers; `prepare` runs once per run. */
  prepare(label: string): Promise<RunCtx>;
  /** Effects compared with the baseline exactly; others are checked against the server by `problems`. */
  exact: string[];
}

// ---------------------------------------------------------------------------------------------
// Counting in the outside systems

const starts = (name: string, since: number, action = 'start') =>
  dockerEvents.events.filter((e) => e.name === name && e.Action === action && e.time >= since).length;

/** Pages: PagerDuty events (retries carry the same dedup key, which PagerDuty folds into one page). */
const str = (v: unknown) => (typeof v === 'string' ? v : '');
/** Not the follow-up's (its report draft and overdue pages start after the incident closed). */
const notFollowUp = (r: { body: Record<string, unknown> }) =>
  !/follow-up|report-draft/.test(str(r.body.dedup_key) + str(r.body.dedupKey));

function pageEffects(pd: Receiver, slack: Receiver | undefined, incident: string): Effects {
  const ours = (r: { body: Record<string, unknown> }) =>
    notFollowUp(r) && (str(r.body.dedup_key) + str(r.body.dedupKey) + str(r.body.text)).includes(incident);
  const events = pd.requests.filter(ours);
  const chat = slack ? slack.requests.filter(ours) : [];
  return {
    pages: new Set(events.map((r) => String(r.body.dedup_key))).size,
    'pagerduty events': events.length,
    ...(slack ? { 'chat messages': chat.length } : {}),
  };
}

/** The PostgreSQL server's own log: one line per backend it terminated or query it cancelled. */
function pgLog(kind: 'terminated' | 'cancelled', pids: number[]): Map<number, number> {
  const file = path.join(need('STACK_DIR'), 'postgres.log');
  const text = readFileSync(file, 'utf8');
  const re =
    kind === 'terminated'
      ? /\[(\d+)\] FATAL: {2}terminating connection due to administrator command/g
      : /\[(\d+)\] ERROR: {2}canceling statement due to user request/g;
  const counts = new Map<number, number>();
  const wanted = new Set(pids);
  for (const m of text.matchAll(re)) {
    const pid = Number(m[1]);
    if (wanted.has(pid)) counts.set(pid, (counts.get(pid) ?? 0) + 1);
  }
  return counts;
}

const receivers = async (): Promise<{ pd: Receiver; slack: Receiver; env: Record<string, string> }> => {
  const [pd, slack] = await Promise.all([startReceiver(), startReceiver()]);
  cleanups.push(
    () => pd.close(),
    () => slack.close(),
  );
  return {
    pd,
    slack,
    env: {
      NOTIFY_PAGERDUTY_EVENTS_URL: `${pd.url}/v2/enqueue`,
      PAGERDUTY_ROUTING_KEY: 'chaos-routing-key',
      NOTIFY_SLACK_WEBHOOK_URL: `${slack.url}/hooks/oncall`,
    },
  };
};

const sandbox = async (prefix: string, env: Record<string, string> = {}, watch = false): Promise<Sandbox> => {
  const sb = await startSandbox(prefix, env);
  cleanups.push(() => sb.remove());
  if (watch) prom.watch(sb.name);
  return sb;
};

const appName = (sb: string) => `accubooks-sandbox:${sb}`.slice(0, 63);
const targetEnv = (sb: Sandbox) => ({ ACCUBOOKS_API_CONTAINER: sb.name, ACCUBOOKS_API_URL: sb.url });

function approverEnv(world: ApprovalWorld): Record<string, string> {
  const byRole: Record<string, unknown[]> = {};
  for (const a of world.directory.approvers) {
    for (const role of a.roles) {
      (byRole[role] ??= []).push({ id: a.id, name: a.name, email: a.email, webhookUrl: a.webhookUrl });
    }
  }
  return {
    APPROVERS_JSON: JSON.stringify(byRole),
    SMTP_URL: `smtp://127.0.0.1:${world.mailbox.port}`,
    SMTP_FROM: 'runbooks@accubooks.test',
    NOTIFY_SLACK_WEBHOOK_URL: `${world.team.url}/hooks/incidents`,
  };
}

/**
 * The CEO approves (through the CLI) as soon as the incident waits for a person, with a code sent
 * for this run: a code left from an earlier run would be refused, and its refusal notified.
 */
async function approveWhenAsked(world: ApprovalWorld, handle: WorkflowHandle, done: () => boolean) {
  const before = codeCount(world, 'ceo');
  let tried: string | undefined;
  while (!done()) {
    try {
      const s = await handle.query(stateQuery);
      const code = codeCount(world, 'ceo') > before ? world.latestCode('ceo') : undefined;
      if (
        s.waitingFor &&
        code &&
        code !== tried &&
        !(s.approvals ?? []).some((g) => g.status === 'approved')
      ) {
        // Each code once (the CLI waits for the verdict, even across a worker restart); a call that
        // failed before it could signal (no worker to query) is retried.
        await submitApproval(handle, { approver: 'ceo', decision: 'approve', reason: 'chaos test', code });
        tried = code;
      }
    } catch {
      /* the worker may be down right now; ask again */
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** Mails at the SMTP server (one per message, all recipients), not the follow-up's report draft. */
const mails = (world: ApprovalWorld) =>
  world.mailbox.mails.filter((m) => !m.subject.includes('Incident report draft')).length;

function evidenceFiles(dir: string): number {
  if (!existsSync(dir)) return 0;
  const walk = (d: string): number =>
    readdirSync(d, { withFileTypes: true }).reduce(
      (n, e) => n + (e.isDirectory() ? walk(path.join(d, e.name)) : 1),
      0,
    );
  return walk(dir);
}

// ---------------------------------------------------------------------------------------------
// The seven runbooks, each in its real fault

const scenarios: Scenario[] = [
  {
    runbook: 'P0-1',
    title: 'System down',
    exact: ['container starts', 'pages', 'chat messages'],
    async prepare() {
      const [sb, r] = await Promise.all([sandbox('chaos-p01'), receivers()]);
      await sb.inject({ fault: 'crash' }).catch(() => undefined);
      await waitUntil('the API to go down', async () => (await sb.health()) === null);
      return {
        target: sb.name,
        env: { ...targetEnv(sb), ...r.env },
        start: (o) =>
          startIncident({
            ...o,
            runbook: 'P0-1',
            target: sb.name,
            trigger: { source: 'manual', startedBy: 'chaos test', description: 'crashed' },
            policy: { verifyWindowMs: 20_000, verifyIntervalMs: 500, stopTimeoutSec: 2 },
          }),
        async effects(state, since) {
          return {
            effects: {
              'container starts': starts(sb.name, since),
              ...pageEffects(r.pd, r.slack, state?.incidentId ?? '?'),
            },
            problems: (await sb.health()) === 200 ? [] : ['the API is not healthy at the end'],
          };
        },
        cleanup: () => sb.remove(),
      };
    },
  },
  {
    runbook: 'P0-2',
    title: 'Database pool exhaustion',
    exact: ['container starts', 'pages', 'chat messages'],
    async prepare() {
      const [sb, r] = await Promise.all([sandbox('chaos-p02', { SELF_TRAFFIC_RPS: '2' }), receivers()]);
      await sb.inject({ fault: 'leak-pool', count: 10 });
      // The leaked sessions, as the server lists them before the runbook starts.
      const { rows } = await admin.query<{ pid: number }>(
        "SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND state = 'idle'",
        [appName(sb.name)],
      );
      const leaked = rows.map((x) => x.pid);
      await new Promise((res) => setTimeout(res, 2500)); // older than the idle threshold
      return {
        target: sb.name,
        env: { ...targetEnv(sb), ...r.env },
        start: (o) =>
          startIncident({
            ...o,
            runbook: 'P0-2',
            target: sb.name,
            trigger: { source: 'alert', alertName: 'DatabasePoolExhausted', values: { utilization: 1 } },
            policy: {
              applicationName: appName(sb.name),
              idleTerminateAfterMs: 2_000,
              resolveWindowMs: 3_000,
              sampleIntervalMs: 1_000,
              maxSampleIntervalMs: 2_000,
              stopTimeoutSec: 2,
            },
          }),
        effects(state, since) {
          const claimed = (
            (state?.checks.terminatedSessions as { pid: number; terminated: boolean }[] | undefined) ?? []
          )
            .filter((t) => t.terminated)
            .map((t) => t.pid);
          const server = pgLog('terminated', [...new Set([...leaked, ...claimed])]);
          const onServer = [...server.values()].reduce((a, b) => a + b, 0);
          const count = Number(state?.checks.terminated ?? -1);
          const problems: string[] = [];
          if (leaked.length < 10) problems.push(`only ${leaked.length} leaked sessions before the runbook`);
          for (const pid of new Set([...leaked, ...claimed])) {
            if (server.get(pid) !== 1)
              problems.push(`pid ${pid}: the server logged ${server.get(pid) ?? 0} terminations`);
          }
          if (count !== onServer)
            problems.push(`the runbook reports ${count} terminated, the server logged ${onServer}`);
          return {
            effects: {
              'container starts': starts(sb.name, since),
              'sessions terminated (server log)': onServer,
              'sessions terminated (runbook)': count,
              ...pageEffects(r.pd, r.slack, state?.incidentId ?? '?'),
            },
            problems,
          };
        },
        cleanup: () => sb.remove(),
      };
    },
  },
  {
    runbook: 'P0-3',
    title: 'Billing error',
    exact: ['container starts', 'refunds (distinct keys)', 'mails', 'evidence files', 'chat messages'],
    async prepare() {
      const key = uniqueId('chaosbill').replace(/[^A-Za-z0-9_.:-]/g, '_');
      const [sb, world, stripe] = await Promise.all([
        sandbox('chaos-p03', { BILLING_KEY: key }),
        startApprovalWorld(),
        startStripeProxy(need('STRIPE_API_BASE')),
      ]);
      cleanups.push(
        () => world.close(),
        () => stripe.close(),
      );
      const evidence = mkdtempSync(path.join(tmpdir(), 'abk-chaos-p03-'));
      return {
        target: sb.name,
        env: {
          ...targetEnv(sb),
          ...approverEnv(world),
          BILLING_KEY: key,
          STRIPE_API_BASE: stripe.url,
          EVIDENCE_DIR: evidence,
        },
        async start(o) {
          const h = await startIncident({
            ...o,
            runbook: 'P0-3',
            target: sb.name,
            trigger: { source: 'manual', startedBy: 'chaos test', description: 'customer charged twice' },
            extraInput: {
              charges: ['ch_chaosfirst', 'pi_chaossecond'],
              reportedBy: 'support@accubooks.test',
            },
            policy: { verifyWindowMs: 30_000, verifyIntervalMs: 500, stopTimeoutSec: 2 },
          });
          return h;
        },
        drive: (h, done) => approveWhenAsked(world, h, done),
        effects(state, since) {
          const refunds = stripe.refunds();
          const keys = new Set(refunds.map((r) => r.idempotencyKey));
          const problems: string[] = [];
          for (const charge of ['ch_chaosfirst', 'pi_chaossecond']) {
            const tries = refunds.filter((r) => r.body.includes(charge));
            const k = new Set(tries.map((r) => r.idempotencyKey));
            if (tries.length === 0) problems.push(`no refund request for ${charge}`);
            if (k.size !== 1 || ![...k][0]?.endsWith(`/refund/${charge}`))
              problems.push(`${charge}: idempotency keys ${[...k].join(', ')}`);
          }
          return {
            effects: {
              'container starts': starts(sb.name, since),
              'refund requests': refunds.length,
              'refunds (distinct keys)': keys.size,
              mails: mails(world),
              'evidence files': evidenceFiles(evidence),
              'chat messages': world.team.requests.filter(notFollowUp).length,
            },
            problems,
          };
        },
        cleanup: () => sb.remove(),
      };
    },
  },
  {
    runbook: 'P0-4',
    title: 'Data integrity violation',
    exact: ['container stops', 'container starts', 'mails', 'evidence files', 'chat messages'],
    async prepare() {
      const [sb, world] = await Promise.all([sandbox('chaos-p04'), startApprovalWorld()]);
      cleanups.push(() => world.close());
      const evidence = mkdtempSync(path.join(tmpdir(), 'abk-chaos-p04-'));
      return {
        target: sb.name,
        env: { ...targetEnv(sb), ...approverEnv(world), EVIDENCE_DIR: evidence },
        start: (o) =>
          startIncident({
            ...o,
            runbook: 'P0-4',
            target: sb.name,
            trigger: {
              source: 'alert',
              alertName: 'CrossTenantLeakage',
              labels: { violation: 'cross-tenant leakage' },
            },
            policy: {
              verifyWindowMs: 30_000,
              verifyIntervalMs: 500,
              reminderEveryMs: 30 * 60_000,
              stopTimeoutSec: 2,
            },
          }),
        drive: (h, done) => approveWhenAsked(world, h, done),
        async effects(_state, since) {
          return {
            effects: {
              'container stops': starts(sb.name, since, 'stop'),
              'container starts': starts(sb.name, since),
              mails: mails(world),
              'evidence files': evidenceFiles(evidence),
              'chat messages': world.team.requests.filter(notFollowUp).length,
            },
            problems: (await sb.health()) === 200 ? [] : ['the API is not healthy at the end'],
          };
        },
        cleanup: () => sb.remove(),
      };
    },
  },
  {
    runbook: 'P1-1',
    title: 'High error rate',
    exact: ['container starts', 'pages', 'chat messages'],
    async prepare() {
      const [sb, r] = await Promise.all([
        sandbox('chaos-p11', { SELF_TRAFFIC_RPS: '10' }, true),
        receivers(),
      ]);
      await sb.inject({ fault: 'error-rate', rate: 0.5 });
      await prom.waitFor(
        `sum(rate(http_requests_total{instance_name="${sb.name}",route!="/metrics",status=~"5.."}[10s])) / sum(rate(http_requests_total{instance_name="${sb.name}",route!="/metrics"}[10s]))`,
        (v) => v > 0.2,
        60_000,
      );
      return {
        target: sb.name,
        env: { ...targetEnv(sb), ...r.env, PROMETHEUS_URL: prom.url },
        start: (o) =>
          startIncident({
            ...o,
            runbook: 'P1-1',
            target: sb.name,
            trigger: { source: 'alert', alertName: 'HighErrorRate' },
            policy: {
              rateWindow: '10s',
              resolveWindowMs: 5_000,
              sampleIntervalMs: 1_000,
              maxSampleIntervalMs: 2_000,
              stopTimeoutSec: 2,
            },
          }),
        effects(state, since) {
          return {
            effects: {
              'container starts': starts(sb.name, since),
              ...pageEffects(r.pd, r.slack, state?.incidentId ?? '?'),
            },
            problems: [],
          };
        },
        cleanup: () => sb.remove(),
      };
    },
  },
  {
    runbook: 'P1-2',
    title: 'High latency',
    exact: ['container starts'],
    async prepare() {
      const [sb, r] = await Promise.all([sandbox('chaos-p12', { SELF_TRAFFIC_RPS: '3' }, true), receivers()]);
      // Each query sleeps long enough to outlive the crash run's worker restarts between listing it
      // and cancelling it (one per activity type in between, the target guard's request included).
      await sb.inject({ fault: 'slow-queries', seconds: 120 });
      await new Promise((res) => setTimeout(res, 2500));
      return {
        target: sb.name,
        env: { ...targetEnv(sb), ...r.env, PROMETHEUS_URL: prom.url },
        start: (o) =>
          startIncident({
            ...o,
            runbook: 'P1-2',
            target: sb.name,
            trigger: { source: 'alert', alertName: 'HighLatency' },
            policy: slowQueriesPolicy(sb.name),
          }),
        async drive(h, done) {
          // The cause goes away once the slow queries were cancelled (a fixed query plan, say).
          while (!done()) {
            try {
              const s = await h.query(stateQuery);
              if (s.steps.some((x) => x.name === 'cancel-1' && x.status === 'done')) {
                await sb.clearFaults();
                return;
              }
            } catch {
              /* worker down */
            }
            await new Promise((res) => setTimeout(res, 500));
          }
        },
        effects(state, since) {
          const killed = (state?.checks.killed as
            { cancelled: number[]; terminated: number[] } | undefined) ?? {
            cancelled: [],
            terminated: [],
          };
          const server = pgLog('cancelled', killed.cancelled);
          const problems: string[] = [];
          if (killed.cancelled.length === 0) problems.push('no query reported cancelled');
          for (const pid of killed.cancelled) {
            if ((server.get(pid) ?? 0) < 1) problems.push(`pid ${pid}: no cancellation in the server log`);
          }
          return {
            effects: {
              'container starts': starts(sb.name, since),
              'queries cancelled (server log)': [...server.values()].reduce((a, b) => a + b, 0),
              'queries cancelled (runbook)': killed.cancelled.length,
              ...pageEffects(r.pd, r.slack, state?.incidentId ?? '?'),
            },
            problems,
          };
        },
        cleanup: () => sb.remove(),
      };
    },
  },
  {
    runbook: 'P1-3',
    title: 'Queue overflow',
    exact: ['replicas created', 'pause flag set', 'container starts'],
    async prepare() {
      const id = uniqueId('chaos-q');
      const queueKey = `test:${id}:queue`;
      const pauseKey = `test:${id}:paused`;
      const [sb, r] = await Promise.all([
        sandbox(
          'chaos-p13',
          {
            FORECAST_QUEUE_KEY: queueKey,
            FORECAST_PAUSE_KEY: pauseKey,
            SELF_TRAFFIC_RPS: '1',
            FORECAST_JOB_MS: '100',
            FORECAST_PRODUCE_RPS: '1',
          },
          true,
        ),
        receivers(),
      ]);
      cleanups.push(() => redis.del(queueKey, pauseKey));
      await sb.inject({ fault: 'queue-flood', jobs: 700, ratePerSecond: 30 });
      await prom.waitFor(`max(forecast_queue_depth{instance_name="${sb.name}"})`, (v) => v > 500, 60_000);
      let pausedSets = 0;
      let paused = false;
      const watcher = setInterval(() => {
        void redis.get(pauseKey).then(
          (v) => {
            if (v === '1' && !paused) pausedSets++;
            paused = v === '1';
          },
          () => undefined,
        );
      }, 100);
      return {
        target: sb.name,
        env: { ...targetEnv(sb), ...r.env, PROMETHEUS_URL: prom.url },
        start: (o) =>
          startIncident({
            ...o,
            runbook: 'P1-3',
            target: sb.name,
            trigger: { source: 'alert', alertName: 'QueueOverflow' },
            policy: queueFloodPolicy(pauseKey),
          }),
        async effects(state, since) {
          clearInterval(watcher);
          const replicas = dockerEvents.events.filter(
            (e) => e.name.startsWith(`${sb.name}-fw-`) && e.Action === 'create' && e.time >= since,
          );
          const left = await docker.listContainers({
            all: true,
            filters: { label: [`accubooks.scaled-for=${sb.name}`] },
          });
          const problems: string[] = [];
          if (left.length) problems.push(`${left.length} replicas left behind`);
          if ((await redis.get(pauseKey)) !== null) problems.push('the pause flag is still set');
          // What the runbook reports against what the engine saw.
          const said = (re: RegExp) => Number(re.exec(state?.outcome ?? '')?.[1] ?? -1);
          const removed = dockerEvents.events.filter(
            (e) => e.name.startsWith(`${sb.name}-fw-`) && e.Action === 'destroy' && e.time >= since,
          ).length;
          if (said(/(\d+) replicas? were started/) !== replicas.length)
            problems.push(
              `the runbook reports ${said(/(\d+) replicas? were started/)} replicas started, the engine created ${replicas.length}`,
            );
          if (said(/(\d+) replicas? removed/) !== removed)
            problems.push(
              `the runbook reports ${said(/(\d+) replicas? removed/)} replicas removed, the engine destroyed ${removed}`,
            );
          return {
            effects: {
              'replicas created': replicas.length,
              'replicas removed': dockerEvents.events.filter(
                (e) => e.name.startsWith(`${sb.name}-fw-`) && e.Action === 'destroy' && e.time >= since,
              ).length,
              'pause flag set': pausedSets,
              'container starts': starts(sb.name, since),
              ...pageEffects(r.pd, r.slack, state?.incidentId ?? '?'),
            },
            problems,
          };
        },
        async cleanup() {
          clearInterval(watcher);
          await sb.remove();
        },
      };
    },
  },
];

// ---------------------------------------------------------------------------------------------
// One run: a worker process per step, killed at each activity type of `killAt` in turn

async function activityHistory(handle: WorkflowHandle) {
  const history = await handle.fetchHistory();
  const byId = new Map<string, string>();
  const types: string[] = [];
  const attempts: Record<string, { attempts: number; completed: boolean }> = {};
  for (const e of history.events ?? []) {
    const id = String(e.eventId);
    const sched = e.activityTaskScheduledEventAttributes;
    if (sched?.activityType?.name) {
      byId.set(id, sched.activityType.name);
      if (!types.includes(sched.activityType.name)) types.push(sched.activityType.name);
    }
    const started = e.activityTaskStartedEventAttributes;
    if (started) {
      const t = byId.get(String(started.scheduledEventId))!;
      const a = (attempts[t] ??= { attempts: 0, completed: false });
      a.attempts = Math.max(a.attempts, started.attempt ?? 1);
    }
    const completed = e.activityTaskCompletedEventAttributes;
    if (completed) attempts[byId.get(String(completed.scheduledEventId))!].completed = true;
  }
  return { types, attempts };
}

async function run(sc: Scenario, label: 'baseline' | 'crash', killAt: string[]): Promise<Run> {
  const started = Date.now();
  const ctx = await sc.prepare(label);
  const since = Date.now();
  const name = `${sc.runbook}-${label}`;
  const taskQueue = uniqueId(`chaos-${sc.runbook}-${label}`);
  const rig = new WorkerRig(name, bundle, { ...ctx.env, TEMPORAL_TASK_QUEUE: taskQueue });
  const result: Run = {
    ctx,
    activityTypes: [],
    retried: {},
    kills: [],
    workers: 0,
    effects: {},
    problems: [],
    ms: 0,
  };
  let handle: WorkflowHandle | undefined;
  let done = false;
  try {
    // Every worker kills at the first activity of a type not yet killed; the killed type leaves the plan.
    const plan = new Set(killAt);
    const killSpec = () => (plan.size ? [...plan].join(',') : undefined);
    let killsSeen = 0;
    let proc = await rig.start(killSpec());
    result.workers++;
    handle = await ctx.start({ client, taskQueue, workflowId: uniqueId(`chaos-${sc.runbook}-${label}`) });
    const driving = ctx.drive?.(handle, () => done);
    const outcome = handle.result().then(
      (s) => ({ state: s as IncidentState }),
      (e: Error) => ({ error: e.message }),
    );
    const deadline = Date.now() + 240_000;
    for (;;) {
      const next = await Promise.race([
        outcome,
        proc.exited.then((x) => ({ exited: x })),
        new Promise<{ timeout: true }>((r) => setTimeout(() => r({ timeout: true }), deadline - Date.now())),
      ]);
      if ('timeout' in next) {
        const s = await handle.query(stateQuery).catch(() => undefined);
        // A stuck incident: say why (e.g. its workflow task failing on replay).
        const events = (await handle.fetchHistory().catch(() => undefined))?.events ?? [];
        const failed = events.filter((e) => e.workflowTaskFailedEventAttributes).at(-1);
        const why = failed?.workflowTaskFailedEventAttributes?.failure?.message;
        throw new Error(
          `${name}: no outcome within 240 s; step ${s?.currentStep ?? '?'}, status ${s?.status ?? '?'}` +
            (why ? `; workflow task failing: ${why}` : ''),
        );
      }
      if ('exited' in next) {
        const kills = rig.readKills();
        if (kills.length > killsSeen) {
          plan.delete(kills[kills.length - 1].activityType);
          killsSeen = kills.length;
        } else {
          result.problems.push(
            `worker #${result.workers} died without a kill (${JSON.stringify(next.exited)})`,
          );
        }
        // A new worker process, killing at the next activity of a type not yet killed.
        proc = await rig.start(killSpec());
        result.workers++;
        continue;
      }
      if ('state' in next) result.state = next.state;
      else result.error = next.error;
      break;
    }
    done = true;
    await driving;
    result.kills = rig.readKills();
    const hist = await activityHistory(handle);
    result.activityTypes = hist.types;
    result.retried = Object.fromEntries(
      result.kills.map((k) => [k.activityType, hist.attempts[k.activityType]]),
    );
    // Let late deliveries land (a page retried after a kill) before counting.
    await new Promise((r) => setTimeout(r, 1500));
    const seen = await ctx.effects(result.state, since);
    result.effects = seen.effects;
    result.problems = seen.problems;
    if (plan.size)
      result.problems.push(
        `never killed at (did not run again after the first kill): ${[...plan].join(', ')}`,
      );
  } catch (err) {
    result.error = (err as Error).message;
    result.kills = rig.readKills();
  } finally {
    done = true;
    if (handle && !result.state) await handle.terminate('chaos test: no outcome').catch(() => undefined);
    if (result.state?.followUp?.workflowId) {
      await client.workflow
        .getHandle(result.state.followUp.workflowId)
        .terminate('chaos test finished')
        .catch(() => undefined);
    }
    await client.workflow
      .getHandle(`target-guard-${ctx.target}`)
      .terminate('chaos test finished')
      .catch(() => undefined);
    await rig.stop();
    await ctx.cleanup().catch(() => undefined);
    result.ms = Date.now() - started;
  }
  return result;
}

// ---------------------------------------------------------------------------------------------

interface Row {
  runbook: string;
  killedAt: string;
  outcome: string;
  sideEffects: string;
  green: boolean;
  why?: string;
}

const results = new Map<string, { baseline: Run; crash?: Run }>();
const rows: Row[] = [];

const outcomeShape = (s?: IncidentState) =>
  `${s?.status}: ${(s?.outcome ?? '').replace(/\d+(\.\d+)?/g, '#')}`;
const fmtEffects = (e: Effects) =>
  Object.entries(e)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');

async function runScenario(sc: Scenario): Promise<void> {
  const baseline = await run(sc, 'baseline', []);
  results.set(sc.runbook, { baseline });
  if (!baseline.state) return;
  const crash = await run(sc, 'crash', baseline.activityTypes);
  results.set(sc.runbook, { baseline, crash });
  const sameOutcome = outcomeShape(crash.state) === outcomeShape(baseline.state);
  const diffs = sc.exact.filter((k) => crash.effects[k] !== baseline.effects[k]);
  for (const type of baseline.activityTypes) {
    const kill = crash.kills.find((k) => k.activityType === type);
    const retry = crash.retried[type];
    const why = [
      !kill ? 'not killed there' : '',
      kill && !retry?.completed ? 'killed activity never completed' : '',
      !sameOutcome ? `outcome differs from baseline (${outcomeShape(baseline.state)})` : '',
      ...diffs.map((k) => `${k}: ${crash.effects[k]} vs baseline ${baseline.effects[k]}`),
      ...crash.problems,
      crash.error ?? '',
    ].filter(Boolean);
    rows.push({
      runbook: `${sc.runbook} ${sc.title}`,
      killedAt: kill
        ? `${type} (attempt ${kill.attempt}, ${kill.phase}; retried: ${retry?.attempts ?? '?'} attempts)`
        : type,
      outcome: crash.state ? `${crash.state.status}: ${crash.state.outcome}` : `none (${crash.error})`,
      sideEffects: fmtEffects(crash.effects),
      green: why.length === 0,
      why: why.join('; ') || undefined,
    });
  }
}

beforeAll(async () => {
  [client, bundle, dockerEvents, prom] = await Promise.all([
    connectClient(loadTemporalConfig()),
    chaosBundle(),
    recordDockerEvents(docker),
    startTestPrometheus(docker),
  ]);
  redis = new Redis(need('REDIS_URL'));
  admin = new Pool({ connectionString: need('PG_ADMIN_URL'), max: 2 });
  const only = process.env.CHAOS_RUNBOOKS?.split(',');
  const todo = scenarios.filter((s) => !only || only.includes(s.runbook));
  // Several runbooks at once (each its own worker processes, target and receivers).
  const parallel = Number(process.env.CHAOS_PARALLEL ?? 3);
  const queue = [...todo];
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      for (let sc = queue.shift(); sc; sc = queue.shift()) await runScenario(sc);
    }),
  );
});

afterAll(async () => {
  const table = rows.map((r) => ({ ...r }));
  const width = (k: keyof Row) =>
    Math.min(60, Math.max(k.length, ...table.map((r) => String(r[k] ?? '').length)));
  const cols: (keyof Row)[] = ['runbook', 'killedAt', 'outcome', 'sideEffects'];
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`;
  const out = [
    line([...cols.map((c) => String(c).padEnd(width(c))), 'ok']),
    line([...cols.map((c) => '-'.repeat(width(c))), '--']),
    ...table.map((r) => line([...cols.map((c) => String(r[c]).padEnd(width(c))), r.green ? 'ok' : 'FAIL'])),
  ];
  const baselines = [...results.entries()].map(([runbook, r]) => ({
    runbook,
    outcome: r.baseline.state ? `${r.baseline.state.status}: ${r.baseline.state.outcome}` : r.baseline.error,
    activityTypes: r.baseline.activityTypes,
    sideEffects: r.baseline.effects,
    ms: r.baseline.ms,
    crashRun: r.crash && {
      workers: r.crash.workers,
      kills: r.crash.kills,
      sideEffects: r.crash.effects,
      problems: r.crash.problems,
      error: r.crash.error,
      ms: r.crash.ms,
    },
  }));
  const summary = `worker-crash harness: ${table.filter((r) => r.green).length}/${table.length} rows green, ${Math.round((Date.now() - t0) / 1000)} s`;
  console.log(
    `${summary}\n${out.join('\n')}\n${table
      .filter((r) => !r.green)
      .map((r) => `FAIL ${r.runbook} @ ${r.killedAt}: ${r.why}`)
      .join('\n')}`,
  );
  writeFileSync(
    path.join(repo, 'test-artifacts', 'chaos-crash.json'),
    `${JSON.stringify({ summary, generatedAt: new Date().toISOString(), rows: table, baselines }, null, 2)}\n`,
  );
  dockerEvents?.close();
  if (bundle) rmSync(bundle, { force: true });
  redis?.disconnect();
  await admin?.end();
  await Promise.allSettled(cleanups.map((c) => c()));
  await prom?.stop();
  await client?.connection.close();
});

test.each(scenarios.map((s) => [s.runbook, s.title]))(
  '%s %s: same outcome and every side effect once when the worker is killed at each activity',
  (runbook) => {
    if (process.env.CHAOS_RUNBOOKS && !process.env.CHAOS_RUNBOOKS.split(',').includes(runbook)) return;
    const r = results.get(runbook);
    expect(r?.baseline.error).toBeUndefined();
    expect(r?.baseline.state?.status).toBe('resolved');
    expect(r?.crash?.error).toBeUndefined();
    const mine = rows.filter((x) => x.runbook.startsWith(runbook));
    expect(mine.length).toBeGreaterThan(0);
    expect(mine.filter((x) => !x.green).map((x) => `${x.killedAt}: ${x.why}`)).toEqual([]);
  },
);
