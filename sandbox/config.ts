/**
 * Environment of the sandbox AccuBooks API. Every value has a default except the two connection
 * strings; a bad value stops the process at start with a message naming the variable.
 */
import { hostname } from 'node:os';
import { z } from 'zod';

export type SandboxRole = 'api' | 'forecast-worker';

export interface SandboxConfig {
  port: number;
  /** Address the HTTP server binds to (host networking: the host's interfaces). */
  host: string;
  databaseUrl: string;
  redisUrl: string;
  poolMax: number;
  role: SandboxRole;
  instance: string;
  selfTrafficRps: number;
  /** Redis list holding forecast jobs. */
  queueKey: string;
  /** Redis key whose value "1" pauses the job producer. */
  pauseKey: string;
  /** Redis hash holding persisted faults, one field per instance. */
  faultsKey: string;
  /** Row of `billing_config` this instance reads at start. */
  billingKey: string;
  /** Steady rate of new forecast jobs from the API role's producer. */
  produceRps: number;
  /** How long one forecast job keeps a consumer busy. */
  jobMs: number;
  /** In-process consumers (API role: 1, forecast-worker role: 2 by default). */
  consumers: number;
  /** Window over which worker utilization is computed. */
  utilizationWindowMs: number;
  /** How long a request waits for a pool client before failing. */
  poolAcquireTimeoutMs: number;
}

const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
const num = (min: number, max: number) => z.coerce.number().min(min).max(max);
const key = z.string().min(1).max(200);

const envSchema = z.object({
  PORT: int(1, 65535),
  HOST: z.string().min(1).default('0.0.0.0'),
  DATABASE_URL: z.string().regex(/^postgres(ql)?:\/\//, 'must be a postgres:// or postgresql:// URL'),
  REDIS_URL: z.string().regex(/^rediss?:\/\//, 'must be a redis:// or rediss:// URL'),
  POOL_MAX: int(1, 1000).default(10),
  SANDBOX_ROLE: z.enum(['api', 'forecast-worker']).default('api'),
  INSTANCE: z.string().min(1).max(63).optional(),
  SELF_TRAFFIC_RPS: num(0, 1000).default(5),
  FORECAST_QUEUE_KEY: key.default('forecast:queue'),
  FORECAST_PAUSE_KEY: key.default('forecast:jobs:paused'),
  SANDBOX_FAULTS_KEY: key.default('accubooks:sandbox:faults'),
  BILLING_KEY: key.default('default'),
  FORECAST_PRODUCE_RPS: num(0, 1000).default(1),
  FORECAST_JOB_MS: int(1, 600_000).default(200),
  FORECAST_CONSUMERS: int(0, 64).optional(),
  UTILIZATION_WINDOW_MS: int(1000, 3_600_000).default(10_000),
  POOL_ACQUIRE_TIMEOUT_MS: int(100, 600_000).default(5000),
});

export function loadConfig(env: NodeJS.ProcessEnv = process.env): SandboxConfig {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(env)'}: ${i.message}`);
    throw new Error(`invalid sandbox environment: ${problems.join('; ')}`);
  }
  const e = parsed.data;
  return {
    port: e.PORT,
    host: e.HOST,
    databaseUrl: e.DATABASE_URL,
    redisUrl: e.REDIS_URL,
    poolMax: e.POOL_MAX,
    role: e.SANDBOX_ROLE,
    instance: e.INSTANCE ?? hostname(),
    selfTrafficRps: e.SELF_TRAFFIC_RPS,
    queueKey: e.FORECAST_QUEUE_KEY,
    pauseKey: e.FORECAST_PAUSE_KEY,
    faultsKey: e.SANDBOX_FAULTS_KEY,
    billingKey: e.BILLING_KEY,
    produceRps: e.FORECAST_PRODUCE_RPS,
    jobMs: e.FORECAST_JOB_MS,
    consumers: e.FORECAST_CONSUMERS ?? (e.SANDBOX_ROLE === 'api' ? 1 : 2),
    utilizationWindowMs: e.UTILIZATION_WINDOW_MS,
    poolAcquireTimeoutMs: e.POOL_ACQUIRE_TIMEOUT_MS,
  };
}

/** The connection string with its password replaced, for logs. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(unparseable url)';
  }
}
