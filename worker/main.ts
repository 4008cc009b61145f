/**
 * The runbook worker: config → clients → Temporal worker → health endpoint.
 * SIGINT/SIGTERM stop polling first, let running activities finish, then close the clients.
 */
import { NativeConnection, Worker, Runtime, DefaultLogger, type LogEntry } from '@temporalio/worker';
import { describeConfig, loadWorkerConfig, ConfigError, type WorkerConfig } from '../config';
import { tlsOptions } from '../client/connection';
import { activitiesFor, buildClients } from './clients';
import { startHealthServer } from './health-server';

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
  });
  const health = config.healthPort ? await startHealthServer(worker, config.healthPort) : undefined;
  const stop = () => worker.shutdown();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    await worker.run();
  } finally {
    await health?.close();
    await clients.close();
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
