/** The worker's own health endpoint: 200 while the worker polls, 503 otherwise. */
import Fastify, { type FastifyInstance } from 'fastify';
import type { Worker } from '@temporalio/worker';

export async function startHealthServer(worker: Worker, port: number): Promise<FastifyInstance> {
  const app = Fastify({ logger: false });
  app.get('/healthz', async (_req, reply) => {
    const state = worker.getState();
    return reply.code(state === 'RUNNING' ? 200 : 503).send({ state, taskQueue: worker.options.taskQueue });
  });
  await app.listen({ host: '127.0.0.1', port });
  return app;
}
