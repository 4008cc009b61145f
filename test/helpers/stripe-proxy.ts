/**
 * A recording HTTP proxy in front of stripe-mock. stripe-mock is stateless (it answers every
 * refund with a canned object), so idempotency is proven by what the SDK sends: every request's
 * `Idempotency-Key` is recorded. It can also lose an answer (the refund reached Stripe, the
 * answer never reached the worker) or hold one until told, to force retries and restarts.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ProxiedRequest {
  method: string;
  path: string;
  idempotencyKey?: string;
  body: string;
  answered: boolean;
}

type Match = (r: ProxiedRequest) => boolean;

export interface StripeProxy {
  url: string;
  requests: ProxiedRequest[];
  refunds(): ProxiedRequest[];
  /** The next matching request reaches stripe-mock, but its answer is lost (socket destroyed). */
  loseAnswer(match: Match): void;
  /** The next matching request reaches stripe-mock and its answer waits until `drop()` (then lost). */
  hold(match: Match): { arrived: Promise<void>; drop(): void };
  /** While true, Stripe is "down": every request's connection is reset before it goes upstream. */
  down: boolean;
  close(): Promise<void>;
}

export async function startStripeProxy(upstream: string): Promise<StripeProxy> {
  const requests: ProxiedRequest[] = [];
  const lose: Match[] = [];
  const holds: { match: Match; arrived: () => void; dropped: Promise<void> }[] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        const body = Buffer.concat(chunks).toString();
        const rec: ProxiedRequest = {
          method: req.method ?? 'GET',
          path: req.url ?? '/',
          idempotencyKey: req.headers['idempotency-key'] as string | undefined,
          body,
          answered: false,
        };
        requests.push(rec);
        if (proxy.down) {
          req.socket.destroy();
          return;
        }
        const headers: Record<string, string> = {};
        for (const h of [
          'authorization',
          'content-type',
          'idempotency-key',
          'stripe-version',
          'user-agent',
        ]) {
          const v = req.headers[h];
          if (typeof v === 'string') headers[h] = v;
        }
        const up = await fetch(`${upstream}${rec.path}`, {
          method: rec.method,
          headers,
          body: rec.method === 'GET' ? undefined : body,
        });
        const text = await up.text();
        const li = lose.findIndex((m) => m(rec));
        if (li >= 0) {
          lose.splice(li, 1);
          req.socket.destroy();
          return;
        }
        const hi = holds.findIndex((h) => h.match(rec));
        if (hi >= 0) {
          const [h] = holds.splice(hi, 1);
          h.arrived();
          await h.dropped;
          req.socket.destroy();
          return;
        }
        rec.answered = true;
        res.writeHead(up.status, { 'content-type': up.headers.get('content-type') ?? 'application/json' });
        res.end(text);
      })().catch(() => req.socket.destroy());
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  const proxy: StripeProxy = {
    url: `http://127.0.0.1:${port}`,
    down: false,
    requests,
    refunds: () => requests.filter((r) => r.method === 'POST' && r.path.startsWith('/v1/refunds')),
    loseAnswer: (m) => lose.push(m),
    hold(match) {
      let arrived!: () => void;
      let drop!: () => void;
      const arrivedP = new Promise<void>((r) => (arrived = r));
      const dropped = new Promise<void>((r) => (drop = r));
      holds.push({ match, arrived, dropped });
      return { arrived: arrivedP, drop };
    },
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
  return proxy;
}
