/**
 * The runbook worker: config → clients → Temporal worker → health endpoint.
 * SIGINT/SIGTERM stop polling first, let running activities finish, then close the clients.
 */
import {
  NativeConnection,
  Worker,
  Runtime,
  DefaultLogger,
  type LogEntry,
  type WorkerOptions,
} from '@temporalio/worker';
import { describeConfig, loadWorkerConfig, type WorkerConfig } from '../config/worker';
import { ConfigError } from '../config/errors';
import { loadGameDayConfig } from '../config/game-day';
import { secretsOf } from '../config/secrets';
import { connectClient, tlsOptions } from '../client/connection';
import { dataConverterFor } from '../common/codec';
import { missingAppRoles } from '../activities/postgres';
import { activitiesFor, buildClients } from './clients';
import { startHealthServer } from './health-server';
import { applyWorkerMemory, mainThreadSemiSpaceMissing } from './memory';
import { createIncidentMetrics, incidentMetricsSinks } from './metrics';
import { adoptIfFirst, deploymentOptions } from './versioning';

export interface RuntimeSettings {
  level?: 'DEBUG' | 'INFO' | 'WARN' | 'ERROR';
  /** The SDK's own Prometheus endpoint (`temporal_*` metrics at /metrics), e.g. `127.0.0.1:9464`; off when unset. */
  sdkMetricsBindAddress?: string;
}

/**
 * Installs the SDK runtime once per process: one JSON line per log entry on stdout (workflow and
 * activity entries carry the workflow ID, which is the incident's), and, when asked, the SDK's
 * Prometheus endpoint.
 */
export function installRuntime(settings: RuntimeSettings = {}): void {
  const level = settings.level ?? 'INFO';
  Runtime.install({
    logger: new DefaultLogger(level, (entry: LogEntry) => {
      const { message, level: lvl, timestampNanos, meta } = entry;
      process.stdout.write(
        `${JSON.stringify({ time: new Date(Number(timestampNanos / 1_000_000n)).toISOString(), level: lvl, message, ...meta })}\n`,
      );
    }),
    telemetryOptions: {
      // The SDK core's own (rare: warnings and errors) lines, written as JSON too. Not forwarded to
      // the logger above: with forwarding on, the 1.24 runtime kept the process alive after shutdown.
      logging: { filter: { core: 'WARN', other: 'ERROR' }, console: { format: 'json' } },
      ...(settings.sdkMetricsBindAddress
        ? { metrics: { prometheus: { bindAddress: settings.sdkMetricsBindAddress } } }
        : {}),
    },
  });
}

/** What a test-only entry point adds to the worker (rig/chaos/worker.ts); production adds nothing. */
export interface WorkerExtras {
  interceptors?: WorkerOptions['interceptors'];
}

export async function runWorker(config: WorkerConfig, extras: WorkerExtras = {}): Promise<void> {
  // Before any client opens: a bad GAMEDAY_* variable fails the start naming the entry.
  const gameDay = loadGameDayConfig();
  const clients = buildClients(config);
  // ACCUBOOKS_DB_ROLES must name roles that exist: a typo would make P0-2 terminate nothing.
  const missing = await missingAppRoles(clients.deps.pg, config.accubooks.dbRoles);
  if (missing === null) {
    Runtime.instance().logger.warn('could not check ACCUBOOKS_DB_ROLES: the database did not answer');
  } else if (missing.length) {
    await clients.close();
    throw new ConfigError([
      `ACCUBOOKS_DB_ROLES names roles that do not exist in the application database: ${missing.join(', ')}`,
    ]);
  }
  // The follow-up drafts its report from the incident's history: activities get a Temporal client.
  const temporal = await connectClient(config.temporal);
  clients.deps.temporal = temporal;
  clients.deps.reportSecrets = secretsOf(config);
  clients.deps.gameDay = gameDay;
  const metrics = createIncidentMetrics(undefined, { processMetrics: true });
  const connection = await NativeConnection.connect({
    address: config.temporal.address,
    tls: tlsOptions(config.temporal),
    apiKey: config.temporal.apiKey,
  });
  // WORKER_WORKFLOW_BUNDLE: a bundle made by bundleWorkflowCode (skips bundling at start-up).
  const bundle = process.env.WORKER_WORKFLOW_BUNDLE;
  const worker = await Worker.create({
    connection,
    namespace: config.temporal.namespace,
    taskQueue: config.temporal.taskQueue,
    ...(bundle
      ? { workflowBundle: { codePath: bundle } }
      : { workflowsPath: require.resolve('../workflows') }),
    ...(extras.interceptors ? { interceptors: extras.interceptors } : {}),
    activities: activitiesFor(clients),
    sinks: incidentMetricsSinks(metrics),
    dataConverter: dataConverterFor(config.temporal),
    ...deploymentOptions(config.versioning),
    ...applyWorkerMemory(config.memory),
  });
  const health = config.healthPort
    ? await startHealthServer(worker, { host: config.healthHost, port: config.healthPort }, metrics.registry)
    : undefined;
  const stop = () => worker.shutdown();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  const running = worker.run();
  const logger = Runtime.instance().logger;
  const semiSpace = mainThreadSemiSpaceMissing(config.memory);
  if (semiSpace) logger.warn(semiSpace);
  // Versioned: the first build of the deployment makes itself current (worker/versioning.ts).
  const adoption = config.versioning.enabled
    ? adoptIfFirst(temporal, config.versioning, (message, meta) => {
        logger.info(message, meta);
      }).catch((err: unknown) => {
        logger.error("could not check the deployment's current version", { error: (err as Error).message });
      })
    : undefined;
  try {
    await running;
  } finally {
    await adoption;
    await health?.close();
    await clients.close();
    await temporal.connection.close();
    await connection.close();
  }
}

/** Loads the configuration from the environment and runs the worker until SIGINT/SIGTERM. */
export async function main(extras: WorkerExtras = {}): Promise<void> {
  let config: WorkerConfig;
  try {
    config = loadWorkerConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  // Installed once the config is known: the SDK metrics endpoint's port comes from it.
  installRuntime({
    sdkMetricsBindAddress: config.sdkMetricsPort ? `127.0.0.1:${config.sdkMetricsPort}` : undefined,
  });
  Runtime.instance().logger.info('worker starting', { config: describeConfig(config) });
  await runWorker(config, extras);
  Runtime.instance().logger.info('worker stopped');
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(`worker failed: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
