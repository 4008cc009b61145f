/**
 * The runbook worker: config → clients → Temporal worker → health endpoint.
 * SIGINT/SIGTERM stop polling first, let running activities finish, then close the clients.
 */
import { NativeConnection, Worker, Runtime, DefaultLogger, type LogEntry } from '@temporalio/worker';
import { describeConfig, loadWorkerConfig, ConfigError, secretsOf, type WorkerConfig } from '../config';
import { connectClient, tlsOptions } from '../client/connection';
import { activitiesFor, buildClients } from './clients';
import { startHealthServer } from './health-server';
import { createIncidentMetrics, incidentMetricsSinks } from './metrics';

/** One JSON line per log entry; activity and workflow entries carry the workflow (incident) ID. */
export function installJsonLogger(level: 'DEBUG' | 'INFO' | 'WARN' | 'ERROR' = 'INFO'): void {
  Runtime.install({
    logger: new DefaultLogger(level, (entry: LogEntry) => {
      const { message, level: lvl, timestampNanos, meta } = entry;
      process.stdout.write(
        `${JSON.stringify({ time: new Date(Number(timestampNanos / 1_000_000n)).toISOString(), level: lvl, message, ...meta })}\n`,
      );
    }),
  });
}

export async function runWorker(config: WorkerConfig): Promise<void> {
  const clients = buildClients(config);
  // The follow-up drafts its report from the incident's history: activities get a Temporal client.
  const temporal = await connectClient(config.temporal);
  clients.deps.temporal = temporal;
  clients.deps.reportSecrets = secretsOf(config);
  const metrics = createIncidentMetrics(undefined, { processMetrics: true });
  const connection = await NativeConnection.connect({
    address: config.temporal.address,
    tls: tlsOptions(config.temporal),
    apiKey: config.temporal.apiKey,
  });
  const worker = await Worker.create({
    connection,
    namespace: config.temporal.namespace,
    taskQueue: config.temporal.taskQueue,
    workflowsPath: require.resolve('../workflows'),
    activities: activitiesFor(clients),
    sinks: incidentMetricsSinks(metrics),
  });
  const health = config.healthPort
    ? await startHealthServer(worker, config.healthPort, metrics.registry)
    : undefined;
  const stop = () => worker.shutdown();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    await worker.run();
  } finally {
    await health?.close();
    await clients.close();
    await temporal.connection.close();
    await connection.close();
  }
}

async function main(): Promise<void> {
  installJsonLogger();
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
  Runtime.instance().logger.info('worker starting', { config: describeConfig(config) });
  await runWorker(config);
  Runtime.instance().logger.info('worker stopped');
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(`worker failed: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
