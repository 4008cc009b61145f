/**
 * The routes every small HTTP service of the project answers alike (the alert intake, the approval
 * page): liveness, readiness (Temporal reachable) and its own Prometheus registry.
 */
import type { FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';

export function serviceRoutes(
  app: FastifyInstance,
  opts: { ready(): Promise<void>; registry: Registry },
): void {
  app.get('/healthz', (_req, reply) => reply.send({ status: 'ok' }));
  app.get('/readyz', async (_req, reply) => {
    try {
      await opts.ready();
      return { status: 'ok', temporal: 'ok' };
    } catch (err) {
      return reply.code(503).send({ status: 'unavailable', temporal: (err as Error).message });
    }
  });
  app.get('/metrics', async (_req, reply) =>
    reply.header('content-type', opts.registry.contentType).send(await opts.registry.metrics()),
  );
}
