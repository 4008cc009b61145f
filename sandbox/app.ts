/**
 * The sandbox AccuBooks API: a real HTTP service with a real pg Pool and Redis client, Prometheus
 * metrics, a forecast job queue, the billing switch, and fault injection. It stands in for the
 * real app in the demo and the tests, run as a container (see container.ts); esbuild bundles this
 * file into the image. Started directly (`node app.js`) it reads its environment (config.ts).
 */
import { randomUUID } from 'node:crypto';
import {
  createServer,
  request as httpRequest,
  Agent,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import { Redis } from 'ioredis';
import type { Pool, PoolClient } from 'pg';
import { loadConfig, redactUrl, type SandboxConfig } from './config';
import { createPool, initSchema, poolStats, readBilling, type BillingState, type PoolStats } from './db';
import {
  FAULT_NAMES,
  FaultRegistry,
  FaultStore,
  parseFaultSpec,
  type FaultName,
  type FaultSpec,
} from './faults';
import { Forecast, sleep } from './forecast';
import { createLogger, errorMessage, type Logger } from './log';
import { createMetrics, type SandboxMetrics } from './metrics';

export const ROUTES = {
  health: '/api/monitoring/health',
  poolConfig: '/api/monitoring/pool-config',
  metrics: '/metrics',
  work: '/api/work',
  faults: '/api/sandbox/faults',
  billingStatus: '/api/billing/status',
  billingCharge: '/api/billing/charge',
} as const;

/** Routes of the application itself: these stop answering while the hang fault is on. */
const APP_ROUTES = new Set<string>([
  ROUTES.health,
  ROUTES.poolConfig,
  ROUTES.work,
  ROUTES.billingStatus,
  ROUTES.billingCharge,
]);

const HEALTH_CHECK_TIMEOUT_MS = 2000;
const MAX_BODY_BYTES = 1024 * 1024;

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** Per-request context: the route label and the error that failed it (for the log line). */
interface Ctx {
  route: string;
  error?: string;
}

export interface SandboxHandle {
  config: SandboxConfig;
  close(): Promise<void>;
}

export class SandboxApp {
  readonly log: Logger;
  readonly pool: Pool;
  readonly redis: Redis;
  readonly forecast: Forecast;
  readonly faults: FaultRegistry;
  readonly metrics: SandboxMetrics;
  private readonly store: FaultStore;
  private readonly server = createServer((req, res) => this.handle(req, res));
  private readonly leaked: PoolClient[] = [];
  private readonly held = new Set<() => void>();
  private billing: BillingState | null = null;
  private dbReady = false;
  private faultsLoaded = false;
  private startError = 'starting';
  private selfTrafficTimer: NodeJS.Timeout | undefined;
  private selfInFlight = 0;
  private readonly selfAgent = new Agent({ keepAlive: true, maxSockets: 64 });
  private closing = false;
  private readonly startedAt = Date.now();

  constructor(readonly config: SandboxConfig) {
    this.log = createLogger({ service: 'accubooks-api', role: config.role, instance: config.instance });
    this.pool = createPool(config);
    this.pool.on('error', (err) => this.log.error('idle pool connection lost', { error: errorMessage(err) }));
    this.redis = new Redis(config.redisUrl, {
      maxRetriesPerRequest: 2,
      commandTimeout: 3000,
      connectTimeout: 3000,
      lazyConnect: false,
    });
    let redisErrorLogged = 0;
    this.redis.on('error', (err: unknown) => {
      if (Date.now() - redisErrorLogged < 5000) return;
      redisErrorLogged = Date.now();
      this.log.error('redis connection error', { error: errorMessage(err) });
    });
    this.forecast = new Forecast(
      this.redis,
      {
        queueKey: config.queueKey,
        pauseKey: config.pauseKey,
        produceRps: config.produceRps,
        jobMs: config.jobMs,
        consumers: config.consumers,
        utilizationWindowMs: config.utilizationWindowMs,
        instance: config.instance,
      },
      this.log,
    );
    this.store = new FaultStore(this.redis, config.faultsKey, config.instance);
    this.faults = new FaultRegistry(
      { apply: (spec) => this.applyFault(spec), clear: (spec) => this.clearFault(spec) },
      (name, err) => this.log.error('could not expire fault', { fault: name, error: errorMessage(err) }),
    );
    this.metrics = createMetrics({
      role: config.role,
      instance: config.instance,
      pool: () => this.poolStats(),
      queueDepth: () => this.forecast.depth(),
      workerUtilization: () => this.forecast.busy.utilization(),
      jobsPaused: () => this.forecast.paused,
      billingEnabled: () => this.billing?.enabled ?? null,
      activeFaults: () => this.faults.list().map((f) => f.spec.fault),
      jobsProcessed: () => this.forecast.processed,
      jobsProduced: () => this.forecast.produced,
    });
  }

  poolStats(): PoolStats {
    return poolStats(this.pool, this.config.poolMax);
  }

  async start(): Promise<void> {
    const c = this.config;
    this.log.info('starting sandbox AccuBooks API', {
      port: c.port,
      database: redactUrl(c.databaseUrl),
      redis: redactUrl(c.redisUrl),
      poolMax: c.poolMax,
      selfTrafficRps: c.role === 'api' ? c.selfTrafficRps : 0,
      queueKey: c.queueKey,
      pauseKey: c.pauseKey,
      billingKey: c.billingKey,
      consumers: c.consumers,
      node: process.version,
    });
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(c.port, c.host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    this.server.on('error', (err) => this.log.error('http server error', { error: errorMessage(err) }));
    this.log.info('listening', { port: c.port, host: c.host });

    if (c.role === 'api') this.forecast.startProducer();
    this.forecast.startConsumers();
    if (c.role === 'api' && c.selfTrafficRps > 0) this.startSelfTraffic();
    this.initDatabase();
    this.loadPersistedFaults();
  }

  /** Creates the schema and reads billing, retrying until the database answers. */
  private initDatabase(): void {
    const attempt = async (): Promise<void> => {
      for (let n = 1; !this.closing; n++) {
        try {
          await initSchema(this.pool, this.config.billingKey);
          this.billing = await readBilling(this.pool, this.config.billingKey);
          this.dbReady = true;
          this.log.info('database ready; billing config read at start', {
            billingKey: this.billing.key,
            billingEnabled: this.billing.enabled,
            billingSince: this.billing.since,
          });
          this.logReadyIfReady();
          return;
        } catch (err) {
          this.startError = `database unavailable: ${errorMessage(err)}`;
          this.log.error('database initialisation failed, retrying', {
            attempt: n,
            error: errorMessage(err),
          });
          await sleep(Math.min(5000, 500 * n));
        }
      }
    };
    void attempt();
  }

  /** Re-applies faults persisted for this instance (how "still down after restart" is simulated). */
  private loadPersistedFaults(): void {
    const attempt = async (): Promise<void> => {
      for (let n = 1; !this.closing; n++) {
        let specs: FaultSpec[];
        try {
          specs = await this.store.load();
        } catch (err) {
          this.startError = `redis unavailable: ${errorMessage(err)}`;
          this.log.error('cannot read persisted faults, retrying', { attempt: n, error: errorMessage(err) });
          await sleep(Math.min(5000, 500 * n));
          continue;
        }
        for (const spec of specs) {
          this.log.warn('re-applying persisted fault', { fault: spec.fault, spec });
          try {
            await this.faults.inject(spec);
          } catch (err) {
            this.log.error('persisted fault could not be applied', {
              fault: spec.fault,
              error: errorMessage(err),
            });
          }
        }
        this.faultsLoaded = true;
        this.logReadyIfReady();
        return;
      }
    };
    void attempt();
  }

  private logReadyIfReady(): void {
    if (this.dbReady && this.faultsLoaded) {
      this.log.info('ready', { startupMs: Date.now() - this.startedAt });
    }
  }

  // ---------------------------------------------------------------- faults

  private async applyFault(spec: FaultSpec): Promise<Record<string, unknown>> {
    switch (spec.fault) {
      case 'crash':
        this.log.fatal('crash fault injected: exiting with status 1');
        setTimeout(() => process.exit(1), 200);
        return { exitingInMs: 200 };
      case 'hang':
        this.log.warn('hang fault injected: application requests will not be answered');
        return {};
      case 'fail-health':
        this.log.warn('fail-health fault injected', { reason: spec.reason ?? null });
        return {};
      case 'leak-pool':
        return this.leakConnections(spec.count);
      case 'error-rate':
        this.log.warn('error-rate fault injected', { rate: spec.rate });
        return {};
      case 'slow-queries':
        this.log.warn('slow-queries fault injected', {
          seconds: spec.seconds,
          probability: spec.probability ?? 1,
        });
        return {};
      case 'queue-flood': {
        const details: Record<string, unknown> = {};
        if (spec.jobs) details.depth = await this.forecast.push(spec.jobs, 'queue-flood');
        this.forecast.floodRate = spec.ratePerSecond ?? 0;
        this.log.warn('queue-flood fault injected', {
          jobs: spec.jobs ?? 0,
          ratePerSecond: spec.ratePerSecond ?? 0,
        });
        return { pushed: spec.jobs ?? 0, ...details };
      }
    }
  }

  private async clearFault(spec: FaultSpec): Promise<void> {
    this.log.info('fault cleared', { fault: spec.fault });
    switch (spec.fault) {
      case 'hang': {
        const resumes = [...this.held];
        this.held.clear();
        for (const resume of resumes) resume();
        return;
      }
      case 'leak-pool': {
        const clients = this.leaked.splice(0);
        for (const client of clients) client.release(true);
        return;
      }
      case 'queue-flood':
        this.forecast.floodRate = 0;
        return;
      default:
        await Promise.resolve();
    }
  }

  /** Checks out `count` pool clients and never releases them; they sit idle in pg_stat_activity. */
  private async leakConnections(count: number): Promise<Record<string, unknown>> {
    const results = await Promise.allSettled(
      Array.from({ length: count }, async () => {
        const client = await this.pool.connect();
        client.on('error', (err) =>
          this.log.warn('leaked connection lost (still checked out of the pool)', {
            error: errorMessage(err),
          }),
        );
        this.leaked.push(client);
        await client.query("SELECT 'sandbox leaked connection' AS leak");
      }),
    );
    const failed = results.filter((r) => r.status === 'rejected');
    const stats = this.poolStats();
    this.log.warn('leak-pool fault injected: connections checked out and never released', {
      requested: count,
      leaked: count - failed.length,
      failed: failed.length,
      inUse: stats.inUse,
      max: stats.max,
      utilization: stats.utilization,
    });
    if (failed.length > 0 && failed[0]?.status === 'rejected') {
      this.log.error('could not leak every requested connection', { error: errorMessage(failed[0].reason) });
    }
    return { leaked: count - failed.length, failed: failed.length, pool: stats };
  }

  // ---------------------------------------------------------------- self traffic

  private startSelfTraffic(): void {
    const intervalMs = Math.max(1, Math.round(1000 / this.config.selfTrafficRps));
    const maxInFlight = Math.max(20, Math.ceil(this.config.selfTrafficRps * 10));
    this.selfTrafficTimer = setInterval(() => {
      if (this.closing || this.selfInFlight >= maxInFlight) return;
      this.selfInFlight++;
      const req = httpRequest(
        {
          host: '127.0.0.1',
          port: this.config.port,
          path: ROUTES.work,
          agent: this.selfAgent,
          timeout: 30_000,
          headers: { 'x-sandbox-self-traffic': '1' },
        },
        (res) => {
          res.resume();
          res.on('end', () => this.selfInFlight--);
          res.on('error', () => undefined);
        },
      );
      req.on('timeout', () => req.destroy(new Error('self-traffic request timed out')));
      req.on('error', () => {
        this.selfInFlight--;
      });
      req.end();
    }, intervalMs);
  }

  // ---------------------------------------------------------------- http

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://sandbox');
    const path = url.pathname.replace(/\/+$/, '') || '/';
    const known = (Object.values(ROUTES) as string[]).includes(path);
    const ctx: Ctx = { route: known ? path : 'unmatched' };
    const started = process.hrtime.bigint();
    res.on('finish', () => this.observe(req, res, ctx, started));

    const run = (): void => {
      this.route(req, res, url, path, ctx).catch((err: unknown) => {
        const status = err instanceof HttpError ? err.status : 500;
        ctx.error = errorMessage(err);
        if (!res.headersSent) this.send(res, status, { error: ctx.error });
        else res.destroy();
      });
    };
    if (APP_ROUTES.has(path) && this.faults.get('hang')) {
      // Never answered while the fault is on; resumed if the fault is cleared.
      this.held.add(run);
      req.on('close', () => this.held.delete(run));
      return;
    }
    run();
  }

  private observe(req: IncomingMessage, res: ServerResponse, ctx: Ctx, started: bigint): void {
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const status = res.statusCode;
    this.metrics.requests.inc({ route: ctx.route, status: String(status) });
    this.metrics.duration.observe({ route: ctx.route }, seconds);
    const fields = {
      method: req.method,
      route: ctx.route,
      path: req.url,
      status,
      durationMs: Math.round(seconds * 1000),
      ...(ctx.error ? { error: ctx.error } : {}),
    };
    if (status >= 500) this.log.error('request failed', fields);
    else if (status >= 400) this.log.warn('request rejected', fields);
    else if (seconds >= 1) this.log.warn('slow request', fields);
  }

  private send(res: ServerResponse, status: number, body: unknown, contentType = 'application/json'): void {
    const text = contentType === 'application/json' ? JSON.stringify(body) : String(body);
    res.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(text) });
    res.end(text);
  }

  private async route(
    req: IncomingMessage,
    res: ServerResponse,
    url: URL,
    path: string,
    ctx: Ctx,
  ): Promise<void> {
    const method = req.method ?? 'GET';
    const key = `${method} ${path}`;
    switch (key) {
      case `GET ${ROUTES.health}`:
        return this.health(res, ctx);
      case `GET ${ROUTES.poolConfig}`:
        return this.send(res, 200, { ...this.poolStats(), leaked: this.leaked.length });
      case `GET ${ROUTES.metrics}`: {
        const text = await this.metrics.registry.metrics();
        return this.send(res, 200, text, this.metrics.registry.contentType);
      }
      case `GET ${ROUTES.work}`:
        return this.work(res, ctx);
      case `GET ${ROUTES.faults}`:
        return this.send(res, 200, this.faultsView());
      case `POST ${ROUTES.faults}`:
        return this.injectFault(req, res, ctx);
      case `DELETE ${ROUTES.faults}`:
        return this.clearFaults(res, url);
      case `GET ${ROUTES.billingStatus}`:
        return this.billingStatus(res);
      case `POST ${ROUTES.billingCharge}`:
        return this.charge(req, res);
      default:
        if ((Object.values(ROUTES) as string[]).includes(path)) {
          throw new HttpError(405, `method ${method} not allowed on ${path}`);
        }
        throw new HttpError(404, `no route ${method} ${path}`);
    }
  }

  private async health(res: ServerResponse, ctx: Ctx): Promise<void> {
    const base = { instance: this.config.instance, role: this.config.role };
    const failHealth = this.faults.get('fail-health');
    if (failHealth) {
      const reason = failHealth.reason ?? 'health check failing (injected fault)';
      ctx.error = reason;
      return this.send(res, 503, { status: 'unhealthy', reason, ...base });
    }
    if (!this.dbReady || !this.faultsLoaded) {
      ctx.error = this.startError;
      return this.send(res, 503, { status: 'unhealthy', reason: this.startError, ...base });
    }
    const [db, redis] = await Promise.all([
      check(() => this.pool.query('SELECT 1')),
      check(() => this.redis.ping()),
    ]);
    if (db !== 'ok' || redis !== 'ok') {
      const pool = this.poolStats();
      const exhausted =
        pool.inUse >= pool.max
          ? ` (pool exhausted: ${pool.inUse}/${pool.max} in use, ${pool.waiting} waiting)`
          : '';
      const reason = [
        db !== 'ok' ? `database: ${db}${exhausted}` : null,
        redis !== 'ok' ? `redis: ${redis}` : null,
      ]
        .filter(Boolean)
        .join('; ');
      ctx.error = reason;
      return this.send(res, 503, { status: 'unhealthy', reason, db, redis, ...base });
    }
    return this.send(res, 200, {
      status: 'ok',
      db,
      redis,
      billing: { enabled: this.billing?.enabled ?? true, since: this.billing?.since ?? null },
      ...base,
      uptimeSeconds: Math.round((Date.now() - this.startedAt) / 1000),
    });
  }

  private async work(res: ServerResponse, ctx: Ctx): Promise<void> {
    const errorRate = this.faults.get('error-rate');
    if (errorRate && Math.random() < errorRate.rate) {
      ctx.error = `upstream ledger service returned an error (injected error-rate ${errorRate.rate})`;
      return this.send(res, 500, { error: 'internal error', detail: ctx.error });
    }
    const tenant = `tenant-${1 + Math.floor(Math.random() * 5)}`;
    const slow = this.faults.get('slow-queries');
    try {
      if (slow && Math.random() < (slow.probability ?? 1)) {
        const { rows } = await this.pool.query<{ invoices: number }>(
          'SELECT pg_sleep($1), count(*)::int AS invoices FROM invoices WHERE tenant_id = $2',
          [slow.seconds, tenant],
        );
        return this.send(res, 200, { tenant, invoices: rows[0]?.invoices ?? 0, slow: true });
      }
      const { rows } = await this.pool.query<{ invoices: number; total: string }>(
        `SELECT count(*)::int AS invoices, coalesce(sum(amount_cents), 0)::text AS total
         FROM invoices WHERE tenant_id = $1 AND status <> 'void'`,
        [tenant],
      );
      return this.send(res, 200, {
        tenant,
        invoices: rows[0]?.invoices ?? 0,
        totalCents: Number(rows[0]?.total ?? 0),
      });
    } catch (err) {
      ctx.error = `database query failed: ${errorMessage(err)}`;
      return this.send(res, 500, { error: 'internal error', detail: ctx.error });
    }
  }

  private faultsView(): Record<string, unknown> {
    return {
      instance: this.config.instance,
      role: this.config.role,
      faults: this.faults.list(),
      known: FAULT_NAMES,
    };
  }

  private async injectFault(req: IncomingMessage, res: ServerResponse, ctx: Ctx): Promise<void> {
    const parsed = parseFaultSpec(await readJson(req));
    if (!parsed.ok) throw new HttpError(400, parsed.error);
    const spec = parsed.spec;
    const wasPersisted = this.faults.get(spec.fault)?.persist === true;
    const { entry, details } = await this.faults.inject(spec);
    if (spec.persist === true || wasPersisted) await this.savePersisted(ctx);
    this.send(res, spec.fault === 'crash' ? 202 : 200, { applied: entry, ...details, ...this.faultsView() });
  }

  private async clearFaults(res: ServerResponse, url: URL): Promise<void> {
    const name = url.searchParams.get('fault');
    if (name !== null && !(FAULT_NAMES as readonly string[]).includes(name)) {
      throw new HttpError(400, `unknown fault '${name}' (known faults: ${FAULT_NAMES.join(', ')})`);
    }
    const removed = await this.faults.remove((name as FaultName | null) ?? undefined);
    // Clearing everything also drops what is persisted for this instance, even if not active here.
    if (name === null || removed.some((s) => s.persist === true))
      await this.store.save(this.faults.persisted());
    this.send(res, 200, { cleared: removed.map((s) => s.fault), ...this.faultsView() });
  }

  private async savePersisted(ctx: Ctx): Promise<void> {
    try {
      await this.store.save(this.faults.persisted());
    } catch (err) {
      ctx.error = `cannot persist faults: ${errorMessage(err)}`;
      throw new HttpError(500, ctx.error);
    }
  }

  private billingStatus(res: ServerResponse): void {
    if (!this.billing) throw new HttpError(503, 'billing configuration not read yet (database unavailable)');
    this.send(res, 200, {
      enabled: this.billing.enabled,
      since: this.billing.since,
      key: this.billing.key,
      updatedBy: this.billing.updatedBy,
      readAt: new Date(this.startedAt).toISOString(),
      note: 'read at start; a restart is needed for a change to take effect',
    });
  }

  private async charge(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readJson(req, true);
    if (!this.billing) throw new HttpError(503, 'billing configuration not read yet (database unavailable)');
    if (!this.billing.enabled) {
      return this.send(res, 423, { error: 'billing is frozen', since: this.billing.since });
    }
    const input = typeof body === 'object' && body !== null ? (body as Record<string, unknown>) : {};
    const amount = typeof input.amount === 'number' && input.amount > 0 ? Math.round(input.amount) : 1000;
    const currency = typeof input.currency === 'string' ? input.currency : 'usd';
    const charge = { id: `ch_sbx_${randomUUID().replace(/-/g, '')}`, status: 'succeeded', amount, currency };
    this.log.info('charge created', { chargeId: charge.id, amount, currency });
    this.send(res, 200, charge);
  }

  // ---------------------------------------------------------------- lifecycle

  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    if (this.selfTrafficTimer) clearInterval(this.selfTrafficTimer);
    this.selfAgent.destroy();
    this.held.clear();
    await this.forecast.stop();
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
    for (const client of this.leaked.splice(0)) client.release(true);
    await Promise.race([this.pool.end(), sleep(2000)]);
    await Promise.race([this.redis.quit().catch(() => undefined), sleep(1000)]);
    this.redis.disconnect();
  }
}

async function check(fn: () => Promise<unknown>): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      fn(),
      new Promise((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`no answer within ${HEALTH_CHECK_TIMEOUT_MS} ms`)),
          HEALTH_CHECK_TIMEOUT_MS,
        );
      }),
    ]);
    return 'ok';
  } catch (err) {
    return errorMessage(err);
  } finally {
    if (timer) clearTimeout(timer);
  }
}

async function readJson(req: IncomingMessage, optional = false): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buf = chunk as Buffer;
    size += buf.length;
    if (size > MAX_BODY_BYTES) throw new HttpError(413, 'request body too large');
    chunks.push(buf);
  }
  const text = Buffer.concat(chunks).toString('utf8').trim();
  if (text === '') {
    if (optional) return {};
    throw new HttpError(400, 'request body must be a JSON object');
  }
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new HttpError(400, 'request body is not valid JSON');
  }
}

/** Starts the app from the environment, with signal handling; the container's entry point. */
export async function main(): Promise<SandboxHandle> {
  let config: SandboxConfig;
  try {
    config = loadConfig();
  } catch (err) {
    createLogger({ service: 'accubooks-api' }).fatal(errorMessage(err));
    process.exit(2);
  }
  const app = new SandboxApp(config);
  process.on('uncaughtException', (err) => {
    app.log.fatal('uncaught exception', { error: errorMessage(err), stack: err.stack });
    process.exit(1);
  });
  process.on('unhandledRejection', (err) => {
    app.log.fatal('unhandled rejection', { error: errorMessage(err) });
    process.exit(1);
  });
  const shutdown = (signal: string): void => {
    app.log.info('shutting down', { signal });
    setTimeout(() => process.exit(0), 4000).unref();
    app.close().then(
      () => {
        app.log.info('stopped');
        process.exit(0);
      },
      (err: unknown) => {
        app.log.error('error while stopping', { error: errorMessage(err) });
        process.exit(0);
      },
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
  try {
    await app.start();
  } catch (err) {
    app.log.fatal('cannot start', { error: errorMessage(err) });
    process.exit(1);
  }
  return { config, close: () => app.close() };
}

if (require.main === module) {
  void main();
}
