/**
 * The sandbox AccuBooks API as a real container against real PostgreSQL, Redis and Docker.
 * Needs DOCKER_HOST, DATABASE_URL, REDIS_URL (and PG_ADMIN_URL for pg_stat_activity; falls back to
 * DATABASE_URL). Every name and key is unique to this run, so it can share a stack with other suites.
 */
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import type Docker from 'dockerode';
import { Redis } from 'ioredis';
import { Client } from 'pg';
import {
  buildSandboxImage,
  dockerFromEnv,
  removeSandboxContainer,
  runSandboxContainer,
  sandboxContainerLogs,
  waitForSandboxHealth,
} from '../sandbox/container';

const REQUIRED_ENV = ['DOCKER_HOST', 'DATABASE_URL', 'REDIS_URL'] as const;
const missing = REQUIRED_ENV.filter((k) => !process.env[k]);

const suffix = `${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
const name = `sbx-test-${suffix}`;
const workerName = `sbx-test-worker-${suffix}`;
const brokenName = `sbx-test-broken-${suffix}`;
const queueKey = `forecast:queue:test-${suffix}`;
const pauseKey = `forecast:jobs:paused:test-${suffix}`;
const faultsKey = 'accubooks:sandbox:faults';
const billingKey = `test-${suffix}`;
const POOL_MAX = 5;

let docker: Docker;
let image: string;
let port: number;
let base: string;
let redis: Redis;
let admin: Client;
let appDb: Client;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

async function eventually<T>(
  what: string,
  fn: () => Promise<T | undefined | false>,
  timeoutMs = 10_000,
  everyMs = 200,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}${lastError instanceof Error ? `: ${lastError.message}` : ''}`,
      );
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** The JSON bodies of the sandbox's endpoints, loosely: each test reads the fields it checks. */
interface ApiBody {
  status?: string;
  reason?: string;
  db?: string;
  redis?: string;
  instance?: string;
  role?: string;
  uptimeSeconds?: number;
  billing?: { enabled: boolean; since: string | null };
  enabled?: boolean;
  key?: string;
  updatedBy?: string | null;
  error?: string;
  leaked?: number;
  depth?: number;
  cleared?: string[];
  faults?: Array<{ spec: { fault: string } }>;
  max?: number;
  total?: number;
  idle?: number;
  waiting?: number;
  inUse?: number;
  utilization?: number;
}

interface Answer {
  status: number;
  body: ApiBody;
  text: string;
  ms: number;
}

async function get(path: string, timeoutMs = 5000): Promise<Answer> {
  const started = Date.now();
  const res = await fetch(`${base}${path}`, { signal: AbortSignal.timeout(timeoutMs) });
  const text = await res.text();
  let body: ApiBody = {};
  if ((res.headers.get('content-type') ?? '').startsWith('application/json'))
    body = JSON.parse(text) as ApiBody;
  return { status: res.status, body, text, ms: Date.now() - started };
}

async function send(
  method: 'POST' | 'DELETE',
  path: string,
  payload?: unknown,
): Promise<Omit<Answer, 'ms' | 'text'>> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: payload === undefined ? {} : { 'content-type': 'application/json' },
    body: payload === undefined ? undefined : JSON.stringify(payload),
    signal: AbortSignal.timeout(10_000),
  });
  return { status: res.status, body: (await res.json()) as ApiBody };
}

const inject = (fault: Record<string, unknown>) => send('POST', '/api/sandbox/faults', fault);
const clearFaults = () => send('DELETE', '/api/sandbox/faults');

/** Sum of the samples of `metric` whose labels include all of `labels`. */
function metricValue(text: string, metric: string, labels: Record<string, string> = {}): number | undefined {
  let found: number | undefined;
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)$/.exec(line);
    if (!m || m[1] !== metric) continue;
    const lbl = m[2] ?? '';
    if (!Object.entries(labels).every(([k, v]) => lbl.includes(`${k}="${v}"`))) continue;
    found = (found ?? 0) + Number(m[3]);
  }
  return found;
}

async function metrics(): Promise<string> {
  const r = await get('/metrics');
  expect(r.status).toBe(200);
  return r.text;
}

async function restartAndWaitForAnswer(): Promise<void> {
  const before = await docker.getContainer(name).inspect();
  await docker.getContainer(name).restart({ t: 10 });
  const after = await docker.getContainer(name).inspect();
  expect(after.State.StartedAt).not.toBe(before.State.StartedAt);
  // Wait until the new process answers health at all (200 or 503).
  await eventually('the restarted sandbox to answer', async () => {
    const r = await get('/api/monitoring/health', 2000);
    return r.body?.uptimeSeconds !== undefined || r.status === 503 ? r : undefined;
  });
}

beforeAll(async () => {
  if (missing.length > 0) {
    throw new Error(`test/sandbox.test.ts needs ${missing.join(', ')} (start the local stack first)`);
  }
  docker = dockerFromEnv();
  redis = new Redis(process.env.REDIS_URL!, { maxRetriesPerRequest: 2 });
  admin = new Client({ connectionString: process.env.PG_ADMIN_URL ?? process.env.DATABASE_URL });
  appDb = new Client({ connectionString: process.env.DATABASE_URL });
  await Promise.all([admin.connect(), appDb.connect()]);
  image = await buildSandboxImage(docker);
  port = await freePort();
  base = `http://127.0.0.1:${port}`;
  await runSandboxContainer(docker, {
    name,
    image,
    port,
    labels: { 'accubooks.test': suffix },
    env: {
      DATABASE_URL: process.env.DATABASE_URL,
      REDIS_URL: process.env.REDIS_URL,
      POOL_MAX: String(POOL_MAX),
      SELF_TRAFFIC_RPS: '5',
      FORECAST_QUEUE_KEY: queueKey,
      FORECAST_PAUSE_KEY: pauseKey,
      BILLING_KEY: billingKey,
      FORECAST_PRODUCE_RPS: '2',
      UTILIZATION_WINDOW_MS: '2000',
    },
  });
}, 180_000);

afterAll(async () => {
  if (docker) {
    for (const n of [name, workerName, brokenName])
      await removeSandboxContainer(docker, n).catch(() => undefined);
  }
  if (redis) {
    await redis.del(queueKey, pauseKey).catch(() => undefined);
    await redis.hdel(faultsKey, name, workerName, brokenName).catch(() => undefined);
    redis.disconnect();
  }
  await appDb?.query('DELETE FROM billing_config WHERE key = $1', [billingKey]).catch(() => undefined);
  await Promise.all([admin?.end().catch(() => undefined), appDb?.end().catch(() => undefined)]);
}, 60_000);

// A failed test must not leave its fault behind for the next one.
afterEach(async () => {
  if (base) await clearFaults().catch(() => undefined);
});

describe('sandbox AccuBooks API container', () => {
  test('the image is tagged by content hash and a rebuild of the unchanged app is a no-op', async () => {
    expect(image).toMatch(/^accubooks-sandbox:[0-9a-f]{16}$/);
    const started = Date.now();
    expect(await buildSandboxImage(docker)).toBe(image);
    expect(Date.now() - started).toBeLessThan(5000);
    const info = await docker.getContainer(name).inspect();
    expect(info.HostConfig.NetworkMode).toBe('host');
    expect(info.HostConfig.RestartPolicy?.Name).toBe('no');
    expect(info.Config.Labels).toMatchObject({ 'accubooks.sandbox': '1', 'accubooks.test': suffix });
  });

  test('health is 200 with db, redis and billing', async () => {
    const r = await get('/api/monitoring/health');
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({
      status: 'ok',
      db: 'ok',
      redis: 'ok',
      billing: { enabled: true },
      instance: name,
    });
  });

  test('pool-config reports the live pg pool', async () => {
    const r = await get('/api/monitoring/pool-config');
    expect(r.status).toBe(200);
    expect(r.body).toEqual(
      expect.objectContaining({
        max: expect.any(Number),
        total: expect.any(Number),
        idle: expect.any(Number),
        waiting: expect.any(Number),
        inUse: expect.any(Number),
        utilization: expect.any(Number),
      }),
    );
    const p = r.body as Required<ApiBody>;
    expect(p.max).toBe(POOL_MAX);
    expect(p.inUse).toBe(p.total - p.idle);
    expect(p.utilization).toBeGreaterThanOrEqual(0);
    expect(p.utilization).toBeLessThanOrEqual(1);
    expect(p.utilization).toBeCloseTo(p.inUse / p.max, 5);
  });

  test('/metrics exposes request, pool, queue and billing metrics; self-traffic is counted', async () => {
    const text = await eventually('self-traffic in http_requests_total', async () => {
      const t = await metrics();
      return (metricValue(t, 'http_requests_total', { route: '/api/work', status: '200' }) ?? 0) > 0
        ? t
        : undefined;
    });
    for (const m of [
      'http_requests_total',
      'http_request_duration_seconds_bucket',
      'db_pool_max',
      'db_pool_in_use',
      'db_pool_utilization',
      'forecast_queue_depth',
      'forecast_worker_utilization',
      'forecast_jobs_paused',
      'billing_enabled',
      'process_cpu_seconds_total',
    ]) {
      expect(metricValue(text, m)).toBeDefined();
    }
    for (const le of ['0.1', '1', '2', '5']) {
      expect(
        metricValue(text, 'http_request_duration_seconds_bucket', { route: '/api/work', le }),
      ).toBeDefined();
    }
    expect(metricValue(text, 'db_pool_max')).toBe(POOL_MAX);
    expect(metricValue(text, 'billing_enabled')).toBe(1);
  });

  test('leak-pool raises pool utilization and leaves idle sessions in pg_stat_activity', async () => {
    const r = await inject({ fault: 'leak-pool', count: 4 });
    expect(r.status).toBe(200);
    expect(r.body.leaked).toBe(4);
    const pool = (await get('/api/monitoring/pool-config')).body;
    expect(pool.inUse).toBeGreaterThanOrEqual(4);
    expect(pool.utilization).toBeGreaterThanOrEqual(0.8);
    expect(metricValue(await metrics(), 'db_pool_utilization')).toBeGreaterThanOrEqual(0.8);

    const sessions = await admin.query<{ pid: number; state: string }>(
      `SELECT pid, state FROM pg_stat_activity
       WHERE application_name = $1 AND query LIKE '%sandbox leaked connection%'`,
      [`accubooks-sandbox:${name}`],
    );
    expect(sessions.rows.length).toBe(4);
    expect(sessions.rows.every((s) => s.state === 'idle')).toBe(true);

    // Leaking the whole pool starves the health check's query: 503 naming the exhausted pool.
    expect((await inject({ fault: 'leak-pool', count: POOL_MAX })).body.leaked).toBe(POOL_MAX);
    const starved = await get('/api/monitoring/health', 5000);
    expect(starved.status).toBe(503);
    expect(starved.body.reason).toContain(`pool exhausted: ${POOL_MAX}/${POOL_MAX} in use`);

    expect((await clearFaults()).body.cleared).toContain('leak-pool');
    await eventually('leaked sessions to close', async () => {
      const left = await admin.query(
        `SELECT 1 FROM pg_stat_activity WHERE application_name = $1 AND query LIKE '%sandbox leaked connection%'`,
        [`accubooks-sandbox:${name}`],
      );
      return left.rowCount === 0;
    });
    // Requests that queued while the pool was exhausted drain first.
    await eventually('pool utilization below 0.8', async () => {
      return ((await get('/api/monitoring/pool-config')).body.utilization ?? 1) < 0.8;
    });
  });

  test('error-rate makes /api/work fail with 500, counted in metrics and logged as ERROR', async () => {
    expect((await inject({ fault: 'error-rate', rate: 1 })).status).toBe(200);
    const r = await get('/api/work');
    expect(r.status).toBe(500);
    await eventually('self-traffic 500s in metrics', async () => {
      const t = await metrics();
      return (metricValue(t, 'http_requests_total', { route: '/api/work', status: '500' }) ?? 0) >= 3;
    });
    const logs = await sandboxContainerLogs(docker, name, 50);
    const errors = logs
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((l) => l.level === 'ERROR' && l.msg === 'request failed' && l.route === '/api/work');
    expect(errors.length).toBeGreaterThan(0);
    expect(errors[0]).toMatchObject({ route: '/api/work', status: 500 });
    await clearFaults();
    expect((await get('/api/work')).status).toBe(200);
  });

  test('slow-queries run pg_sleep in real queries (active in pg_stat_activity) and slow requests down', async () => {
    expect((await inject({ fault: 'slow-queries', seconds: 1.5 })).status).toBe(200);
    const active = await eventually('an active pg_sleep query', async () => {
      const q = await admin.query<{ query: string }>(
        `SELECT query FROM pg_stat_activity WHERE application_name = $1 AND state = 'active' AND query LIKE '%pg_sleep%'`,
        [`accubooks-sandbox:${name}`],
      );
      return q.rows[0];
    });
    expect(active.query).toContain('pg_sleep($1)');
    const r = await get('/api/work', 10_000);
    expect(r.status).toBe(200);
    expect(r.ms).toBeGreaterThanOrEqual(1400);
    await clearFaults();
  });

  test('hang: health does not answer until the fault is cleared', async () => {
    await inject({ fault: 'hang' });
    await expect(get('/api/monitoring/health', 1500)).rejects.toThrow();
    const pending = get('/api/monitoring/health', 10_000);
    await new Promise((r) => setTimeout(r, 300));
    await clearFaults();
    expect((await pending).status).toBe(200);
  });

  test('the pause flag is honoured within a second and reported in metrics', async () => {
    await redis.set(pauseKey, '1');
    await eventually(
      'forecast_jobs_paused 1',
      async () => metricValue(await metrics(), 'forecast_jobs_paused') === 1,
      1500,
      100,
    );
    const produced = metricValue(await metrics(), 'forecast_jobs_produced_total');
    await new Promise((r) => setTimeout(r, 1500));
    expect(metricValue(await metrics(), 'forecast_jobs_produced_total')).toBe(produced);
    await redis.del(pauseKey);
    await eventually(
      'forecast_jobs_paused 0',
      async () => metricValue(await metrics(), 'forecast_jobs_paused') === 0,
      1500,
      100,
    );
    await eventually('production to resume', async () => {
      return (metricValue(await metrics(), 'forecast_jobs_produced_total') ?? 0) > (produced ?? 0);
    });
  });

  test('queue-flood fills the queue, busies the consumer, and a forecast-worker container drains it', async () => {
    const r = await inject({ fault: 'queue-flood', jobs: 300 });
    expect(r.status).toBe(200);
    expect(r.body.depth).toBeGreaterThanOrEqual(300);
    const t = await metrics();
    expect(metricValue(t, 'forecast_queue_depth')).toBeGreaterThanOrEqual(250);
    expect(await redis.llen(queueKey)).toBeGreaterThanOrEqual(250);
    await eventually(
      'worker utilization > 0.8',
      async () => (metricValue(await metrics(), 'forecast_worker_utilization') ?? 0) > 0.8,
      5000,
    );

    const workerPort = await freePort();
    await runSandboxContainer(docker, {
      name: workerName,
      image,
      port: workerPort,
      role: 'forecast-worker',
      labels: { 'accubooks.test': suffix },
      env: {
        DATABASE_URL: process.env.DATABASE_URL,
        REDIS_URL: process.env.REDIS_URL,
        FORECAST_QUEUE_KEY: queueKey,
        FORECAST_PAUSE_KEY: pauseKey,
        BILLING_KEY: billingKey,
        FORECAST_CONSUMERS: '4',
        FORECAST_JOB_MS: '20',
      },
    });
    const health = await (await fetch(`http://127.0.0.1:${workerPort}/api/monitoring/health`)).json();
    expect(health).toMatchObject({ status: 'ok', role: 'forecast-worker', instance: workerName });
    await eventually(
      'the worker to drain the queue',
      async () => (await redis.llen(queueKey)) < 20,
      20_000,
      250,
    );
    const wm = await (await fetch(`http://127.0.0.1:${workerPort}/metrics`)).text();
    expect(metricValue(wm, 'forecast_jobs_processed_total')).toBeGreaterThan(100);
    expect(metricValue(wm, 'forecast_jobs_produced_total')).toBe(0);
    await removeSandboxContainer(docker, workerName);
    await clearFaults();
  });

  test('billing: a freeze in billing_config takes effect after a restart; charge then answers 423', async () => {
    const before = await get('/api/billing/status');
    expect(before.body).toMatchObject({ enabled: true, key: billingKey });
    await appDb.query(
      `UPDATE billing_config SET enabled = false, updated_at = now(), updated_by = 'test' WHERE key = $1`,
      [billingKey],
    );
    // Read at start only: still enabled until restarted.
    expect((await get('/api/billing/status')).body.enabled).toBe(true);
    expect((await send('POST', '/api/billing/charge', { amount: 500 })).status).toBe(200);

    await restartAndWaitForAnswer();
    await waitForSandboxHealth(docker, { name, port, instance: name, timeoutMs: 15_000 });
    const status = await get('/api/billing/status');
    expect(status.body).toMatchObject({ enabled: false, updatedBy: 'test' });
    const charge = await send('POST', '/api/billing/charge', { amount: 500 });
    expect(charge.status).toBe(423);
    expect(charge.body.error).toBe('billing is frozen');
    expect((await get('/api/monitoring/health')).body.billing?.enabled).toBe(false);
    expect(metricValue(await metrics(), 'billing_enabled')).toBe(0);
  });

  test('a persisted fail-health survives a restart; in-memory faults do not', async () => {
    const reason = 'ledger disk full (test)';
    expect((await inject({ fault: 'fail-health', reason, persist: true })).status).toBe(200);
    expect((await inject({ fault: 'error-rate', rate: 0.5 })).status).toBe(200);
    const h = await get('/api/monitoring/health');
    expect(h.status).toBe(503);
    expect(h.body).toMatchObject({ status: 'unhealthy', reason });
    expect(await redis.hget(faultsKey, name)).toContain('fail-health');

    await restartAndWaitForAnswer();
    const after = await eventually('503 with the persisted reason', async () => {
      const r = await get('/api/monitoring/health', 2000);
      return r.status === 503 && r.body.reason === reason ? r : undefined;
    });
    expect(after.body.status).toBe('unhealthy');
    const faults = (await get('/api/sandbox/faults')).body.faults?.map((f) => f.spec.fault);
    expect(faults).toEqual(['fail-health']);

    await clearFaults();
    expect(await redis.hget(faultsKey, name)).toBeNull();
    // The persisted fault answers 503 as soon as it is re-applied, which can be before the
    // database step of start-up is done on a loaded machine; health is 200 once that is done.
    await eventually('200 once the fault is cleared and start-up done', async () => {
      const r = await get('/api/monitoring/health', 2000);
      return r.status === 200 ? r : undefined;
    });
  });

  test('runSandboxContainer fails with a clear error and the last log lines when health never comes', async () => {
    const closedPort = await freePort();
    const err = await runSandboxContainer(docker, {
      name: brokenName,
      image,
      port: await freePort(),
      healthTimeoutMs: 3000,
      env: {
        DATABASE_URL: `postgres://nobody:x@127.0.0.1:${closedPort}/none`,
        REDIS_URL: process.env.REDIS_URL,
        SELF_TRAFFIC_RPS: '0',
      },
    }).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(err).toBeInstanceOf(Error);
    expect(err!.message).toContain(`sandbox container ${brokenName} not healthy within 3000 ms`);
    expect(err!.message).toContain('database initialisation failed');
    expect(err!.message).toContain('ECONNREFUSED');
    await removeSandboxContainer(docker, brokenName);
    await expect(docker.getContainer(brokenName).inspect()).rejects.toMatchObject({ statusCode: 404 });
  });

  test('crash exits the process with status 1 and the container stops', async () => {
    const r = await inject({ fault: 'crash' });
    expect(r.status).toBe(202);
    const state = await eventually('the container to exit', async () => {
      const info = await docker.getContainer(name).inspect();
      return info.State.Running ? undefined : info.State;
    });
    expect(state.ExitCode).toBe(1);
    const logs = await sandboxContainerLogs(docker, name, 5);
    expect(logs.some((l) => l.includes('"level":"FATAL"') && l.includes('crash fault'))).toBe(true);
  });
});
