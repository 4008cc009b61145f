/**
 * The sandbox AccuBooks API: a real HTTP service with a real pg Pool and Redis client, Prometheus
 * metrics, a forecast job queue, the billing switch, and fault injection. It stands in for the
 * real app in the demo and the tests, run as a container (see container.ts); esbuild bundles this
 * file into the image. Started directly (`node app.js`) it reads its environment (config.ts).
 * This file wires the parts together and routes requests; each concern has its own file.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { Redis } from 'ioredis';
import type { Pool } from 'pg';
import { billingStatus, charge } from './billing';
import { loadConfig, redactUrl, type SandboxConfig } from './config';
import { createPool, poolStats, type PoolStats } from './db';
import { FaultModes } from './fault-modes';
import { clearFaults, faultsView, injectFault } from './fault-routes';
import { FaultRegistry, FaultStore } from './faults';
import { Forecast, sleep } from './forecast';
import { health } from './health';
import { APP_ROUTES, HttpError, ROUTES, send, type Ctx } from './http';
import { createLogger, errorMessage, type Logger } from './log';
import { createMetrics, type SandboxMetrics } from './metrics';
import { SelfTraffic } from './self-traffic';
import { Startup } from './startup';
import { work } from './work';

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
  private readonly modes: FaultModes;
  private readonly startup: Startup;
  private readonly selfTraffic: SelfTraffic;
  private readonly server = createServer((req, res) => this.handle(req, res));
  private closing = false;
  private readonly startedAt = Date.now();

  constructor(readonly config: SandboxConfig) {
    this.log = createLogger({ service: 'accubooks-api', role: config.role, instance: config.instance });
    this.pool = createPool(config);
    this.pool.on('error', (err) => this.log.error('idle pool connection lost', { error: errorMessage(err) }));
    this.redis = this.connectRedis();
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
    this.modes = new FaultModes({
      log: this.log,
      pool: this.pool,
      forecast: this.forecast,
      poolStats: () => this.poolStats(),
    });
    this.faults = new FaultRegistry(
      { apply: (spec) => this.modes.apply(spec), clear: (spec) => this.modes.clear(spec) },
      (name, err) => this.log.error('could not expire fault', { fault: name, error: errorMessage(err) }),
    );
    const isClosing = (): boolean => this.closing;
    this.startup = new Startup({
      config,
      log: this.log,
      pool: this.pool,
      store: this.store,
      faults: this.faults,
      startedAt: this.startedAt,
      isClosing,
    });
    this.selfTraffic = new SelfTraffic({ port: config.port, rps: config.selfTrafficRps, isClosing });
    this.metrics = createMetrics({
      role: config.role,
      instance: config.instance,
      pool: () => this.poolStats(),
      queueDepth: () => this.forecast.depth(),
      workerUtilization: () => this.forecast.busy.utilization(),
      jobsPaused: () => this.forecast.paused,
      billingEnabled: () => this.startup.billing?.enabled ?? null,
      activeFaults: () => this.faults.list().map((f) => f.spec.fault),
      jobsProcessed: () => this.forecast.processed,
      jobsProduced: () => this.forecast.produced,
    });
  }

  private connectRedis(): Redis {
    const redis = new Redis(this.config.redisUrl, {
      maxRetriesPerRequest: 2,
      commandTimeout: 3000,
      connectTimeout: 3000,
      lazyConnect: false,
    });
    let redisErrorLogged = 0;
    redis.on('error', (err: unknown) => {
      if (Date.now() - redisErrorLogged < 5000) return;
      redisErrorLogged = Date.now();
      this.log.error('redis connection error', { error: errorMessage(err) });
    });
    return redis;
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
    if (c.role === 'api' && c.selfTrafficRps > 0) this.selfTraffic.start();
    this.startup.run();
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
        if (!res.headersSent) send(res, status, { error: ctx.error });
        else res.destroy();
      });
    };
    if (APP_ROUTES.has(path) && this.faults.get('hang')) {
      // Never answered while the fault is on; resumed if the fault is cleared.
      this.modes.held.add(run);
      req.on('close', () => this.modes.held.delete(run));
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
        return health(this.routeDeps(), res, ctx);
      case `GET ${ROUTES.poolConfig}`:
        return send(res, 200, { ...this.poolStats(), leaked: this.modes.leaked.length });
      case `GET ${ROUTES.metrics}`: {
        const text = await this.metrics.registry.metrics();
        return send(res, 200, text, this.metrics.registry.contentType);
      }
      case `GET ${ROUTES.work}`:
        return work(this.routeDeps(), res, ctx);
      case `GET ${ROUTES.faults}`:
        return send(res, 200, faultsView(this.routeDeps()));
      case `POST ${ROUTES.faults}`:
        return injectFault(this.routeDeps(), req, res, ctx);
      case `DELETE ${ROUTES.faults}`:
        return clearFaults(this.routeDeps(), res, url);
      case `GET ${ROUTES.billingStatus}`:
        return billingStatus(this.startup.billing, this.startedAt, res);
      case `POST ${ROUTES.billingCharge}`:
        return charge({ billing: () => this.startup.billing, log: this.log }, req, res);
      default:
        if ((Object.values(ROUTES) as string[]).includes(path)) {
          throw new HttpError(405, `method ${method} not allowed on ${path}`);
        }
        throw new HttpError(404, `no route ${method} ${path}`);
    }
  }

  /** What the route handlers read: the live parts of the app. */
  private routeDeps() {
    return {
      config: this.config,
      faults: this.faults,
      store: this.store,
      startup: this.startup,
      pool: this.pool,
      redis: this.redis,
      startedAt: this.startedAt,
      poolStats: () => this.poolStats(),
    };
  }

  // ---------------------------------------------------------------- lifecycle

  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    this.selfTraffic.stop();
    this.modes.held.clear();
    await this.forecast.stop();
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
    this.modes.releaseLeaked();
    await Promise.race([this.pool.end(), sleep(2000)]);
    await Promise.race([this.redis.quit().catch(() => undefined), sleep(1000)]);
    this.redis.disconnect();
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
