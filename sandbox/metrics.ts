/**
 * Prometheus metrics of the sandbox (prom-client, own registry). Gauges read the live state when
 * scraped; request metrics are observed by the HTTP layer.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { PoolStats } from './db';
import { FAULT_NAMES } from './faults';

export interface MetricsSource {
  role: string;
  instance: string;
  pool(): PoolStats;
  queueDepth(): Promise<number>;
  workerUtilization(): number;
  jobsPaused(): boolean;
  billingEnabled(): boolean | null;
  activeFaults(): string[];
  jobsProcessed(): number;
  jobsProduced(): number;
}

export interface SandboxMetrics {
  registry: Registry;
  requests: Counter<'route' | 'status'>;
  duration: Histogram<'route'>;
}

export const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 2.5, 5, 10];

export function createMetrics(src: MetricsSource): SandboxMetrics {
  const registry = new Registry();
  registry.setDefaultLabels({ instance_name: src.instance, role: src.role });
  collectDefaultMetrics({ register: registry });

  const requests = new Counter({
    name: 'http_requests_total',
    help: 'HTTP requests answered, by route and status code',
    labelNames: ['route', 'status'] as const,
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP request duration in seconds, by route',
    labelNames: ['route'] as const,
    buckets: DURATION_BUCKETS,
    registers: [registry],
  });

  registerStateGauges(registry, src);
  registerCollectedMetrics(registry, src);

  return { registry, requests, duration };
}

/** Gauges that read one number of the live state when scraped (pool, forecast, billing). */
function registerStateGauges(registry: Registry, src: MetricsSource): void {
  const gauge = (name: string, help: string, read: () => number): void => {
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        this.set(read());
      },
    });
  };
  gauge('db_pool_max', 'Maximum size of the pg pool', () => src.pool().max);
  gauge('db_pool_in_use', 'pg pool clients checked out', () => src.pool().inUse);
  gauge('db_pool_idle', 'pg pool clients idle in the pool', () => src.pool().idle);
  gauge('db_pool_waiting', 'Requests waiting for a pg pool client', () => src.pool().waiting);
  gauge('db_pool_utilization', 'pg pool clients in use / max (0..1)', () => src.pool().utilization);
  gauge('forecast_worker_utilization', 'Busy-time fraction of forecast consumers (0..1)', () =>
    src.workerUtilization(),
  );
  gauge('forecast_jobs_paused', '1 while the forecast job producer is paused by the flag', () =>
    src.jobsPaused() ? 1 : 0,
  );
  gauge('billing_enabled', '1 when billing is enabled (as read at start), 0 when frozen', () =>
    src.billingEnabled() === false ? 0 : 1,
  );
}

/** Metrics whose value is collected asynchronously or from counters kept by the app. */
function registerCollectedMetrics(registry: Registry, src: MetricsSource): void {
  let lastDepth = 0;
  new Gauge({
    name: 'forecast_queue_depth',
    help: 'Jobs waiting in the forecast queue (LLEN)',
    registers: [registry],
    async collect() {
      try {
        lastDepth = await src.queueDepth();
      } catch {
        // Keep the last known value; the health endpoint reports the Redis failure.
      }
      this.set(lastDepth);
    },
  });
  new Counter({
    name: 'forecast_jobs_processed_total',
    help: 'Forecast jobs completed by this process',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(src.jobsProcessed());
    },
  });
  new Counter({
    name: 'forecast_jobs_produced_total',
    help: 'Forecast jobs enqueued by this process',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(src.jobsProduced());
    },
  });
  new Gauge({
    name: 'sandbox_fault_active',
    help: '1 for each injected fault that is active',
    labelNames: ['fault'] as const,
    registers: [registry],
    collect() {
      const active = new Set(src.activeFaults());
      for (const f of FAULT_NAMES) this.set({ fault: f }, active.has(f) ? 1 : 0);
    },
  });
}
