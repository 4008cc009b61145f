/**
 * The worker's own health endpoint: 200 while the worker polls, 503 otherwise; and, given a
 * registry, the incident/MTTR metrics for Prometheus at /metrics (worker/metrics.ts). The SDK's own
 * metrics (`temporal_*`: polls, task slots, latencies) are served by the SDK runtime on
 * WORKER_SDK_METRICS_PORT (worker/main.ts installRuntime), not here.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import type { Worker } from '@temporalio/worker';
import type { Registry } from 'prom-client';

export async function startHealthServer(
  worker: Worker,
  listen: { host: string; port: number },
  metrics?: Registry,
): Promise<FastifyInstance> {
  const app = Fastify({ logger: false });
  app.get('/healthz', async (_req, reply) => {
    const state = worker.getState();
    return reply.code(state === 'RUNNING' ? 200 : 503).send({ state, taskQueue: worker.options.taskQueue });
  });
  if (metrics) {
    app.get('/metrics', async (_req, reply) =>
      reply.header('content-type', metrics.contentType).send(await metrics.metrics()),
    );
  }
  await app.listen(listen);
  return app;
}
