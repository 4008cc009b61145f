/**
 * Real HTTP receivers standing in for PagerDuty and the chat webhook: they record every request and
 * can be switched to fail, to prove that one channel being down does not stop a page.
 */
import Fastify from 'fastify';

export interface Received {
  path: string;
  body: Record<string, unknown>;
  headers: Record<string, string | string[] | undefined>;
  at: number;
}

export interface Receiver {
  url: string;
  requests: Received[];
  failing: boolean;
  /** Runs before the receiver answers (the sender's call is still open), e.g. to act at once. */
  onRequest?: (r: Received) => Promise<void>;
  waitFor(count: number, timeoutMs?: number): Promise<Received[]>;
  close(): Promise<void>;
}

export async function startReceiver(): Promise<Receiver> {
  const app = Fastify({ logger: false });
  const receiver = { requests: [] as Received[], failing: false } as Receiver;
  app.post('/*', async (req, reply) => {
    if (receiver.failing) return reply.code(503).send({ error: 'receiver down (test)' });
    const received: Received = {
      path: req.url,
      body: req.body as Record<string, unknown>,
      headers: req.headers,
      at: Date.now(),
    };
    receiver.requests.push(received);
    await receiver.onRequest?.(received);
    return reply.code(202).send({ status: 'success' });
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const addr = app.server.address();
  if (!addr || typeof addr === 'string') throw new Error('receiver did not bind');
  receiver.url = `http://127.0.0.1:${addr.port}`;
  receiver.waitFor = async (count, timeoutMs = 30_000) => {
    const deadline = Date.now() + timeoutMs;
    while (receiver.requests.length < count) {
      if (Date.now() > deadline)
        throw new Error(`receiver got ${receiver.requests.length} requests, wanted ${count}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    return receiver.requests;
  };
  receiver.close = () => app.close();
  return receiver;
}
