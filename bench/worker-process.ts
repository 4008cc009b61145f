/**
 * The benchmarks' worker, in a process of its own (forked by bench/dev-rig.ts), so that its memory is
 * measured alone and the load generator and the intake do not share its event loop: as in
 * production, where the worker, the intake and Alertmanager are separate processes.
 *
 *   fork('dist/bench/worker-process.js', [JSON.stringify(WorkerProcessOptions)])
 *
 * It sends {ready: true} once polling, answers {cmd: 'status'} with its RSS and cached workflows,
 * and shuts down (draining) on {cmd: 'shutdown'}.
 */
import {
  NativeConnection,
  Runtime,
  DefaultLogger,
  makeTelemetryFilterString,
  Worker,
  type WorkerOptions,
} from '@temporalio/worker';
import { createActivities } from '../activities';
import { createIncidentMetrics, incidentMetricsSinks } from '../worker/metrics';
import { loadTemporalConfig } from '../config/temporal';
import { loadWorkerMemory } from '../config/worker-memory';
import { applyWorkerMemory } from '../worker/memory';
import { benchClients } from './clients';
import { createBenchActivities } from './floor-activities';

export interface WorkerProcessOptions {
  taskQueue: string;
  bundlePath: string;
  maxCachedWorkflows: number;
  pagerDutyUrl: string;
  slackUrl: string;
}

export interface WorkerStatus {
  rssMb: number;
  cachedWorkflows: number;
}

async function main(): Promise<void> {
  const opts = JSON.parse(process.argv[2] ?? '{}') as WorkerProcessOptions;
  // Incidents on made-up targets fail their checks by design: keep the SDK's warnings quiet.
  Runtime.install({
    logger: new DefaultLogger('ERROR'),
    telemetryOptions: {
      logging: { filter: makeTelemetryFilterString({ core: 'ERROR', other: 'ERROR' }), forward: {} },
    },
  });
  const clients = benchClients(opts.pagerDutyUrl, opts.slackUrl);
  const connection = await NativeConnection.connect({ address: loadTemporalConfig().address });
  const worker = await Worker.create({
    connection,
    taskQueue: opts.taskQueue,
    workflowBundle: { codePath: opts.bundlePath },
    activities: { ...createActivities(clients.deps), ...createBenchActivities() },
    sinks: incidentMetricsSinks(createIncidentMetrics()),
    shutdownGraceTime: '2s',
    maxCachedWorkflows: opts.maxCachedWorkflows,
    // The production worker's memory settings (WORKER_V8_SEMI_SPACE_MB, WORKER_MAX_CACHED_WORKFLOWS).
    ...applyWorkerMemory(loadWorkerMemory()),
    // BENCH_WORKER_OPTIONS (JSON, e.g. {"maxConcurrentWorkflowTaskPolls": 4}): a knob under test.
    ...(JSON.parse(process.env.BENCH_WORKER_OPTIONS || '{}') as Partial<WorkerOptions>),
  });
  const running = worker.run();
  process.on('message', (m: { cmd?: string }) => {
    if (m.cmd === 'status') {
      const status: WorkerStatus = {
        rssMb: process.memoryUsage().rss / (1024 * 1024),
        cachedWorkflows: worker.getStatus().numCachedWorkflows,
      };
      process.send?.({ status });
    } else if (m.cmd === 'shutdown') worker.shutdown();
  });
  process.send?.({ ready: true });
  await running;
  await Promise.allSettled([connection.close(), clients.close()]);
  process.exit(0);
}

main().catch((err: unknown) => {
  process.stderr.write(
    `bench worker failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  );
  process.exit(1);
});
