/**
 * Outages of the systems the runbooks use, while an incident runs, on a stack of this run's own
 * (`STACK_DIR=$PWD/.stack/outage scripts/stack.sh up`): PostgreSQL, Redis, the stack's private
 * Docker engine, stripe-mock and Prometheus are stopped by their recorded pid and started again
 * with `scripts/stack.sh start <svc>`; the notification receivers are HTTP servers of this file
 * that really close their port. The runbooks run in the real worker process (dist/worker/main.js,
 * `npm run build` first), with policies compressed to seconds.
 *
 * For each outage: the runbook retries with backoff, shows the failing dependency in its state and
 * in the UI's current details (the `__temporal_workflow_metadata` query), escalates on its schedule
 * when the outage outlasts it, and reaches its normal outcome once the dependency is back; the
 * worker stays up and holds no more connections after recovery than before (from /proc,
 * pg_stat_activity and Redis CLIENT LIST). A table is printed and written to
 * test-artifacts/chaos-outages.json.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Client, WorkflowHandle } from '@temporalio/client';
import { Redis } from 'ioredis';
import { loadTemporalConfig } from '../../config/temporal';
import { connectClient } from '../../client/connection';
import { startIncident, type StartIncidentOptions } from '../../client/incidents';
import { stateQuery } from '../../definitions/messages';
import { approvalSignal } from '../../definitions/approval';
import { targetLeaseWorkflowId } from '../../definitions/target-guard';
import type { IncidentState } from '../../definitions/types';
import { need, uniqueId } from '../../rig/env';
import { startApprovalWorld, type ApprovalWorld } from '../../rig/approvals';
import { waitUntil } from '../../rig/sandbox';
import { startWorkerProcess, type WorkerProcess } from '../../rig/worker-process';
import { currentDetails } from '../observability/watch';
import { startOutageReceiver, type OutageReceiver } from '../../rig/outage-receivers';
import { serviceOutage, type OutageWindow } from '../../rig/outage-steps';
import {
  connectionsOf,
  describeConnections,
  startService,
  type Connections,
  type StackService,
} from '../../rig/outage-stack';

jest.setTimeout(180_000);

const target = need('ACCUBOOKS_API_CONTAINER');
const apiUrl = need('ACCUBOOKS_API_URL');
const taskQueue = uniqueId('chaos-outage');
/** The P0-2 runbook role and the pool the worker builds (worker/clients.ts: max 4). */
const WORKER_PG_POOL_MAX = 4;

let worker: WorkerProcess;
let client: Client;
let pagerDuty: OutageReceiver;
let chat: OutageReceiver;
let world: ApprovalWorld;
const handles: WorkflowHandle[] = [];
let firstConnections: Connections;

interface Row {
  dependency: string;
  runbook: string;
  workflowId: string;
  /** What the state and the UI's current details showed during the outage. */
  stateShowed: string;
  detailsShowed: string;
  /** How the retries looked (attempts, backoff). */
  retried: string;
  escalated: string;
  recovered: string;
  outageSeconds: number;
  before: Connections;
  during: Connections;
  after: Connections;
  leak: boolean;
}
const rows: Row[] = [];

/** Policies compressed to seconds (each test adds what its outage needs): the loops run in real time. */
const RECHECK = { recheckIntervalMs: 1000, maxRecheckIntervalMs: 2000 };
const FAST_P0_1 = { verifyWindowMs: 1500, verifyIntervalMs: 500, stopTimeoutSec: 1, ...RECHECK };
const FAST_SAMPLING = {
  resolveWindowMs: 2000,
  sampleIntervalMs: 1000,
  maxSampleIntervalMs: 2000,
  ...RECHECK,
};
const FAST_P1_3 = {
  detectionDepth: 20,
  pauseAboveDepth: 50,
  resumeBelowDepth: 20,
  maxReplicas: 0,
  ...FAST_SAMPLING,
};

const get = async (url: string) => {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(3000) });
    return { status: res.status, text: await res.text() };
  } catch {
    return { status: 0, text: '' };
  }
};

async function sandboxFault(method: 'POST' | 'DELETE', body?: Record<string, unknown>): Promise<void> {
  const res = await fetch(`${apiUrl}/api/sandbox/faults`, {
    method,
    headers: body ? { 'content-type': 'application/json' } : {},
    body: body ? JSON.stringify(body) : undefined,
    signal: AbortSignal.timeout(5000),
  });
  if (!res.ok) throw new Error(`${method} faults: HTTP ${res.status} ${await res.text()}`);
}

const apiHealth = async () => (await get(`${apiUrl}/api/monitoring/health`)).status;

/** The API container running and healthy, no fault left, a fresh target guard (its rate limit is per game day). */
async function cleanSlate(): Promise<void> {
  const { execFile } = await import('node:child_process');
  await new Promise<void>((resolve) =>
    execFile(
      '/usr/bin/docker',
      ['-H', need('DOCKER_HOST'), 'start', target],
      { timeout: 60_000 },
      () => resolve(), // already running is fine
    ),
  );
  await waitUntil('the API to answer', async () => (await apiHealth()) !== 0, 60_000);
  await sandboxFault('DELETE').catch(() => undefined);
  await waitUntil('the API to be healthy', async () => (await apiHealth()) === 200, 60_000);
  await client.workflow
    .getHandle(targetLeaseWorkflowId(target))
    .terminate('outage test: next game day')
    .catch(() => undefined);
}

async function start(
  runbook: StartIncidentOptions['runbook'],
  policy: Record<string, unknown>,
  extraInput?: Record<string, unknown>,
): Promise<WorkflowHandle> {
  const handle = await startIncident({
    client,
    taskQueue,
    runbook,
    target,
    trigger: { source: 'manual', startedBy: 'outage test', description: `outage game day (${runbook})` },
    workflowId: uniqueId(`chaos-outage-${runbook}`),
    policy,
    extraInput,
  });
  handles.push(handle);
  return handle;
}

const state = (h: WorkflowHandle) => h.query(stateQuery);

/** Polls state and details until `fn` returns a value (what was seen); fails with the last state. */
async function until<T>(
  what: string,
  h: WorkflowHandle,
  fn: (s: IncidentState, details: string) => T | undefined,
  timeoutMs = 60_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: IncidentState | undefined;
  let details = '';
  for (;;) {
    try {
      last = await state(h);
      details = await currentDetails(h);
      const r = fn(last, details);
      if (r !== undefined && r !== false) return r;
    } catch (err) {
      if (Date.now() > deadline) throw err;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}\nstate: ${JSON.stringify(last, null, 1)?.slice(0, 4000)}\ndetails:\n${details}\nworker stderr:\n${worker.stderr().slice(-2000)}`,
      );
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

interface Pending {
  activity: string;
  attempt: number;
  lastFailure: string;
}

/** Activities the server sees retrying (what the UI's "Pending Activities" shows). */
async function pending(h: WorkflowHandle): Promise<Pending[]> {
  const d = await h.describe();
  return (d.raw.pendingActivities ?? []).map((p) => ({
    activity: p.activityType?.name ?? '?',
    attempt: p.attempt ?? 0,
    lastFailure: p.lastFailure?.message ?? '',
  }));
}

async function untilPending(
  h: WorkflowHandle,
  activity: string,
  minAttempt: number,
  timeoutMs = 60_000,
): Promise<Pending> {
  let found: Pending | undefined;
  await waitUntil(
    `${activity} to be retried (attempt ${minAttempt})`,
    async () => {
      found = (await pending(h)).find((p) => p.activity === activity && p.attempt >= minAttempt);
      return found !== undefined;
    },
    timeoutMs,
  );
  return found!;
}

const detailsLine = (details: string, re: RegExp) =>
  details
    .split('\n')
    .filter((l) => re.test(l))
    .join(' / ');

/** Connections after recovery: no more than before, within the pools' bounds. */
function leaked(before: Connections, after: Connections): string[] {
  const problems: string[] = [];
  if (after.fds > before.fds + 8) problems.push(`fds ${before.fds} -> ${after.fds}`);
  if (after.sockets > before.sockets + 6) problems.push(`sockets ${before.sockets} -> ${after.sockets}`);
  if ((after.pgSessions ?? 0) > WORKER_PG_POOL_MAX) problems.push(`pg sessions ${after.pgSessions}`);
  if (after.pgTcp > WORKER_PG_POOL_MAX) problems.push(`pg tcp ${after.pgTcp}`);
  if ((after.redisClients ?? 0) > 1 || after.redisTcp > 1)
    problems.push(`redis ${after.redisClients}/${after.redisTcp}`);
  if (after.temporalTcp > Math.max(before.temporalTcp, 4)) problems.push(`temporal tcp ${after.temporalTcp}`);
  return problems;
}

/** Lets idle pools settle (pg closes idle clients after 10 s; we only wait for the incident's own work to end). */
async function settled(): Promise<Connections> {
  await new Promise((r) => setTimeout(r, 1500));
  return connectionsOf(worker.pid);
}

/** The incident's normal outcome, reached once the dependency was back. */
async function resolved(h: WorkflowHandle): Promise<IncidentState> {
  const final = (await h.result()) as IncidentState;
  expect(final.status).toBe('resolved');
  return final;
}

/** Once the pools settled: the worker is healthy, leaks nothing, and the row goes into the table. */
async function record(
  final: IncidentState,
  window: OutageWindow,
  row: Omit<Row, 'leak' | 'recovered' | 'after' | keyof OutageWindow>,
): Promise<Row> {
  const after = await settled();
  await workerHealthy();
  const problems = leaked(window.before, after);
  const full = { ...row, ...window, after, recovered: `yes: ${final.outcome}`, leak: problems.length > 0 };
  rows.push(full);
  expect(problems).toEqual([]);
  expect(worker.running()).toBe(true);
  return full;
}

async function workerHealthy(): Promise<void> {
  expect(worker.running()).toBe(true);
  expect((await get(`http://127.0.0.1:${worker.healthPort}/healthz`)).status).toBe(200);
}

beforeAll(async () => {
  [pagerDuty, chat, world] = await Promise.all([
    startOutageReceiver('pagerduty'),
    startOutageReceiver('chat'),
    startApprovalWorld(),
  ]);
  client = await connectClient(loadTemporalConfig());
  worker = await startWorkerProcess({
    keepChars: 200_000,
    env: {
      TEMPORAL_TASK_QUEUE: taskQueue,
      NOTIFY_PAGERDUTY_EVENTS_URL: `${pagerDuty.url}/v2/enqueue`,
      PAGERDUTY_ROUTING_KEY: 'outage-routing-key',
      NOTIFY_SLACK_WEBHOOK_URL: `${chat.url}/hooks/incidents`,
      SMTP_URL: `smtp://127.0.0.1:${world.mailbox.port}`,
      SMTP_FROM: 'runbooks@accubooks.test',
      // Config's shape: roles -> people (the world's directory lists people with their roles).
      APPROVERS_JSON: JSON.stringify(
        Object.fromEntries(
          ['CEO', 'CTO', 'Legal'].map((role) => [
            role,
            world.directory.approvers
              .filter((a) => a.roles.includes(role))
              .map(({ roles: _roles, ...person }) => person),
          ]),
        ),
      ),
      EVIDENCE_DIR: mkdtempSync(path.join(tmpdir(), 'abk-outage-evidence-')),
    },
  });
  await cleanSlate();
  firstConnections = await connectionsOf(worker.pid);
});

afterAll(async () => {
  await Promise.allSettled(handles.map((h) => h.terminate('outage test finished')));
  // Whatever a failed test left stopped is started again, so the stack stays usable.
  for (const svc of ['postgres', 'redis', 'dockerd', 'stripe-mock', 'prometheus'] as StackService[]) {
    await startService(svc).catch(() => undefined);
  }
  if (rows.length) {
    const table = [
      '| dependency stopped | runbook | state showed | current details showed | retried | escalated? | recovered? | outage | connections before / during / after | leak? |',
      '|---|---|---|---|---|---|---|---|---|---|',
      ...rows.map(
        (r) =>
          `| ${r.dependency} | ${r.runbook} | ${r.stateShowed} | ${r.detailsShowed} | ${r.retried} | ${r.escalated} | ${r.recovered} | ${r.outageSeconds} s | ${describeConnections(r.before)} / ${describeConnections(r.during)} / ${describeConnections(r.after)} | ${r.leak ? 'LEAK' : 'no'} |`,
      ),
    ].join('\n');
    console.log(`Outages of the systems the runbooks use:\n${table}`);
    const dir = path.join(__dirname, '../../test-artifacts');
    mkdirSync(dir, { recursive: true });
    const last = worker?.pid ? await connectionsOf(worker.pid).catch(() => undefined) : undefined;
    writeFileSync(
      path.join(dir, 'chaos-outages.json'),
      JSON.stringify(
        { at: new Date().toISOString(), rows, worker: { first: firstConnections, last }, table },
        null,
        2,
      ),
    );
  }
  await worker?.stop();
  await client?.connection.close();
  await Promise.allSettled([pagerDuty?.close(), chat?.close(), world?.close()]);
});

beforeEach(async () => {
  await cleanSlate();
});

test('notification receivers: all down, the page retries with backoff; chat back first, the page goes out and the PagerDuty failure is recorded', async () => {
  await sandboxFault('POST', { fault: 'fail-health', persist: true, reason: 'outage game day' });
  const before = await connectionsOf(worker.pid);
  await Promise.all([pagerDuty.stop(), chat.stop()]);
  const down = Date.now();
  const h = await start('P0-1', {
    ...FAST_P0_1,
    escalateAfterMs: 3000,
    maxRestarts: 1,
    healthTimeoutMs: 2000,
  });
  // The page is retried by the server with backoff (2 s, 4 s, ...), every channel refused.
  const retrying = await untilPending(h, 'page', 3);
  expect(retrying.lastFailure).toMatch(/Every channel failed/);
  expect(retrying.lastFailure).toMatch(/pagerduty/);
  expect(retrying.lastFailure).toMatch(/slack/);
  const escalating = await until('the escalated status', h, (s, d) =>
    s.status === 'escalated' && /\*\*Status\*\* escalated/.test(d) ? d : undefined,
  );
  const during = await connectionsOf(worker.pid);

  await chat.start(); // the chat webhook comes back; PagerDuty stays down
  const escalated = await until('the page to be delivered', h, (s, d) =>
    s.escalations.length > 0 && /\*\*Escalated\*\* 1×/.test(d) ? { s, d } : undefined,
  );
  const outageSeconds = Math.round((Date.now() - down) / 1000);
  const page = escalated.s.escalations[0];
  expect(page.delivered).toEqual(['slack']);
  expect(page.failed).toEqual([
    { channel: 'pagerduty', error: expect.stringMatching(/ECONNREFUSED|fetch failed/) },
  ]);
  expect(escalated.d).toMatch(/not delivered via\*\* pagerduty/);
  expect(chat.requests.length).toBeGreaterThan(0);
  expect(pagerDuty.requests).toHaveLength(0);

  await sandboxFault('DELETE');
  const final = await resolved(h);
  await pagerDuty.start();
  await record(
    final,
    { before, during, outageSeconds },
    {
      dependency: 'notification receivers (PagerDuty + chat; chat back first)',
      runbook: 'P0-1',
      workflowId: h.workflowId,
      stateShowed: `status escalated while the page retried; escalations[0]: delivered ${page.delivered.join(',')}, failed ${page.failed.map((f) => `${f.channel} (${f.error})`).join(', ')}`,
      detailsShowed: detailsLine(escalated.d, /Escalated/) || detailsLine(escalating, /Status/),
      retried: `page attempt ${retrying.attempt}: ${retrying.lastFailure.slice(0, 120)}`,
      escalated: `yes, at ${page.at} (delivered via chat only)`,
    },
  );
});

test('stripe-mock: the refund is retried with backoff until Stripe is back; the incident reaches the approval and resumes billing', async () => {
  const outage = await serviceOutage(worker.pid, 'stripe-mock');
  const h = await start(
    'P0-3',
    { verifyWindowMs: 30_000, verifyIntervalMs: 500, stopTimeoutSec: 1, ...RECHECK },
    { charges: ['ch_outagegameday'], reportedBy: 'outage test' },
  );
  // The refund starts by reading the charge's amount (for the refund caps): that is what Stripe refuses first.
  const retrying = await untilPending(h, 'describeCharge', 3, 90_000);
  expect(retrying.lastFailure).toMatch(/ECONNREFUSED|connect|Stripe|network/i);
  const showing = await until('the refund step in the details', h, (s, d) =>
    /Read the amount of ch_outagegameday/.test(s.currentStep) && /\*\*Step\*\* 2\. Read the amount/.test(d)
      ? { s, d }
      : undefined,
  );
  const window = await outage.end();

  await until('the wait for the CEO', h, (s) => (s.waitingFor ? s : undefined), 90_000);
  const afterRefund = await state(h);
  expect(afterRefund.steps.find((x) => x.name === 'refund-ch_outagegameday')?.status).toBe('done');
  expect(afterRefund.failing.refunds).toBeUndefined();
  const code = await world.waitForCode('ceo');
  await h.signal(approvalSignal, { approver: 'ceo', decision: 'approve', reason: 'refund verified', code });
  const final = await resolved(h);
  await record(final, window, {
    dependency: 'stripe-mock',
    runbook: 'P0-3',
    workflowId: h.workflowId,
    stateShowed: `step "${showing.s.currentStep}" running while Stripe was down; refund done after it came back`,
    detailsShowed: detailsLine(showing.d, /\*\*Step\*\*/),
    retried: `describeCharge attempt ${retrying.attempt}: ${retrying.lastFailure.slice(0, 120)}`,
    escalated:
      'no: the outage was shorter than the refund retry budget (5 attempts, ~30 s) after which it escalates',
  });
});

test('PostgreSQL: the pool cannot be measured, the runbook says so, escalates, and resolves once the database is back', async () => {
  const outage = await serviceOutage(worker.pid, 'postgres');
  const h = await start('P0-2', {
    ...FAST_SAMPLING,
    unmeasuredEscalateAfterMs: 5000,
    poolCheckTimeoutMs: 2000,
    stopTimeoutSec: 1,
  });
  const seen = await until(
    'the unmeasured pool escalation',
    h,
    (s, d) =>
      s.failing['verify-pool'] && s.escalations.length > 0 && /verify-pool: /.test(d) ? { s, d } : undefined,
    90_000,
  );
  expect(seen.s.failing['check-pool']).toMatch(/DEPENDENCY_UNAVAILABLE|pg_stat_activity|ECONNREFUSED/);
  expect(seen.s.escalations[0].reason).toMatch(/could not be measured/);
  expect(seen.d).toMatch(/\*\*Failing checks\*\*/);
  const window = await outage.end();
  expect(window.during.pgTcp).toBe(0);
  const final = await resolved(h);
  expect(final.failing['verify-pool']).toBeUndefined();
  await record(final, window, {
    dependency: 'PostgreSQL',
    runbook: 'P0-2',
    workflowId: h.workflowId,
    stateShowed: `failing: ${Object.entries(seen.s.failing)
      .map(([k, v]) => `${k}: ${v.slice(0, 90)}`)
      .join('; ')}`,
    detailsShowed: detailsLine(seen.d, /verify-pool|Escalated/),
    retried:
      'each pool sample retried by the activity (4 attempts, 1 s backoff doubling), samples backing off 1 s -> 2 s',
    escalated: `yes: ${seen.s.escalations[0].reason.slice(0, 120)}`,
  });
});

test('Redis: the producer cannot be paused while Redis is down; the pause is applied once it is back and the queue drains', async () => {
  await sandboxFault('POST', { fault: 'queue-flood', jobs: 150 });
  const prom = need('PROMETHEUS_URL');
  await waitUntil('Prometheus to see the flood', async () => {
    const r = await get(
      `${prom}/api/v1/query?query=${encodeURIComponent(`max(forecast_queue_depth{instance_name="${target}"})`)}`,
    );
    const v = Number(
      (JSON.parse(r.text || '{}') as { data?: { result?: { value: [number, string] }[] } }).data?.result?.[0]
        ?.value[1],
    );
    return v >= 80;
  });
  const outage = await serviceOutage(worker.pid, 'redis');
  const h = await start('P1-3', { ...FAST_P1_3, escalateDepth: 100_000, unmeasuredEscalateAfterMs: 60_000 });
  const seen = await until('the failing pause', h, (s, d) =>
    s.failing['pause-jobs'] && /pause-jobs: /.test(d) ? { s, d } : undefined,
  );
  expect(seen.s.failing['pause-jobs']).toMatch(/DEPENDENCY_UNAVAILABLE/);
  // It keeps trying at every sample.
  await until('a second pause attempt', h, (s) =>
    s.steps.filter((x) => x.name === 'pause-jobs' && x.status === 'failed').length >= 2 ? true : undefined,
  );
  const window = await outage.end();
  expect(window.during.redisTcp).toBe(0);
  // Redis keeps nothing across a restart here: the backlog is put back, as a durable queue would have kept it.
  const redis = new Redis(need('REDIS_URL'));
  await redis.rpush(
    'forecast:queue',
    ...Array.from({ length: 100 }, (_, i) =>
      JSON.stringify({ id: `outage-${i}`, seq: i, tenant: 'tenant-1' }),
    ),
  );
  redis.disconnect();
  const paused = await until('the pause to be applied', h, (s) =>
    s.steps.some((x) => x.name === 'pause-jobs' && x.status === 'done') ? s : undefined,
  );
  expect(paused.failing['pause-jobs']).toBeUndefined();
  const final = await resolved(h);
  expect(final.checks.jobsPaused).toBe(false);
  const attempts = final.steps.filter((x) => x.name === 'pause-jobs');
  await record(final, window, {
    dependency: 'Redis',
    runbook: 'P1-3',
    workflowId: h.workflowId,
    stateShowed: `failing: pause-jobs: ${seen.s.failing['pause-jobs'].slice(0, 100)}`,
    detailsShowed: detailsLine(seen.d, /pause-jobs/),
    retried: `pause tried ${attempts.length} times (${attempts.filter((x) => x.status === 'failed').length} failed, each after 3 activity attempts with 2 s backoff), then applied`,
    escalated:
      'no: no P1-3 rule applies (depth < 1000 and not growing); a pause that cannot be set is shown, not paged',
  });
});

test('Prometheus: the queue cannot be measured, the runbook escalates on its schedule, and resolves once Prometheus is back', async () => {
  const outage = await serviceOutage(worker.pid, 'prometheus');
  const h = await start('P1-3', { ...FAST_P1_3, unmeasuredEscalateAfterMs: 4000 });
  const seen = await until(
    'the unmeasured queue escalation',
    h,
    (s, d) =>
      s.failing.queue && s.escalations.length > 0 && /- queue: /.test(d) && /Escalated/.test(d)
        ? { s, d }
        : undefined,
    90_000,
  );
  expect(seen.s.failing['check-queue']).toMatch(/DEPENDENCY_UNAVAILABLE|Prometheus|ECONNREFUSED/);
  expect(seen.s.escalations[0].reason).toMatch(/could not be measured/);
  const window = await outage.end();
  const final = await resolved(h);
  expect(final.failing.queue).toBeUndefined();
  await record(final, window, {
    dependency: 'Prometheus',
    runbook: 'P1-3',
    workflowId: h.workflowId,
    stateShowed: `failing: ${Object.entries(seen.s.failing)
      .map(([k, v]) => `${k}: ${v.slice(0, 80)}`)
      .join('; ')}`,
    detailsShowed: detailsLine(seen.d, /- queue:|Escalated/),
    retried: 'each sample retried by the activity (4 attempts, 1 s doubling), samples backing off 1 s -> 2 s',
    escalated: `yes: ${seen.s.escalations[0].reason.slice(0, 120)}`,
  });
});

test('Docker engine: logs and restart fail while the engine is down, the runbook escalates at 6 s, and restarts the API once the engine is back', async () => {
  await sandboxFault('POST', { fault: 'crash' }).catch(() => undefined); // it may die before it answers
  await waitUntil('the API to go down', async () => (await apiHealth()) === 0);
  const outage = await serviceOutage(worker.pid, 'dockerd');
  const h = await start('P0-1', {
    ...FAST_P0_1,
    escalateAfterMs: 6000,
    maxRestarts: 3,
    healthTimeoutMs: 1000,
  });
  const seen = await until(
    'the failing logs check and the escalation',
    h,
    (s, d) =>
      s.failing['check-logs'] && s.escalations.length > 0 && /check-logs: /.test(d) && /Escalated/.test(d)
        ? { s, d }
        : undefined,
    90_000,
  );
  expect(seen.s.failing['check-logs']).toMatch(/ENOENT|docker|connect|DEPENDENCY_UNAVAILABLE/i);
  const window = await outage.end();
  const final = await resolved(h);
  expect(await apiHealth()).toBe(200);
  const restarts = final.steps.filter((x) => x.name === 'restart');
  await record(final, window, {
    dependency: 'Docker engine (private dockerd)',
    runbook: 'P0-1',
    workflowId: h.workflowId,
    stateShowed: `failing: check-logs: ${seen.s.failing['check-logs'].slice(0, 100)}; restart steps ${restarts.map((r) => r.status).join(', ')}`,
    detailsShowed: detailsLine(seen.d, /check-logs|Escalated/),
    retried: `logs: 4 attempts (1 s doubling); restart: ${restarts.length} step(s), 3 attempts each (2 s doubling)`,
    escalated: `yes: ${seen.s.escalations[0].reason}`,
  });
});

test('the worker process survived every outage and holds no more connections than at the start', async () => {
  await workerHealthy();
  expect(worker.stderr()).not.toMatch(/worker failed|unhandled|FATAL/i);
  const now = await settled();
  expect(leaked(firstConnections, now)).toEqual([]);
});
