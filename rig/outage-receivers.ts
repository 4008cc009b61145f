/**
 * A notification receiver (PagerDuty Events API or a chat webhook stand-in) that can really go
 * down: `stop()` closes its listening socket (callers get ECONNREFUSED), `start()` listens again on
 * the same port. Every request that arrived while it was up is recorded.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Arrival {
  path: string;
  body: Record<string, unknown>;
  at: number;
}

export interface OutageReceiver {
  name: string;
  url: string;
  requests: Arrival[];
  up: boolean;
  stop(): Promise<void>;
  start(): Promise<void>;
  close(): Promise<void>;
}

export async function startOutageReceiver(name: string): Promise<OutageReceiver> {
  let port = 0;
  let server: Server | undefined;
  const receiver: OutageReceiver = {
    name,
    url: '',
    requests: [],
    up: false,
    async start() {
      if (server) return;
      const s = createServer((req, res) => {
        let raw = '';
        req.on('data', (c: Buffer) => (raw += c.toString()));
        req.on('end', () => {
          let body: Record<string, unknown> = {};
          try {
            body = JSON.parse(raw) as Record<string, unknown>;
          } catch {
            // recorded as empty
          }
          receiver.requests.push({ path: req.url ?? '', body, at: Date.now() });
          res.writeHead(202, { 'content-type': 'application/json', connection: 'close' });
          res.end('{"status":"success"}');
        });
      });
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject);
        s.listen(port, '127.0.0.1', () => resolve());
      });
      port = (s.address() as AddressInfo).port;
      receiver.url = `http://127.0.0.1:${port}`;
      server = s;
      receiver.up = true;
    },
    async stop() {
      const s = server;
      if (!s) return;
      server = undefined;
      receiver.up = false;
      s.closeAllConnections();
      await new Promise<void>((r) => s.close(() => r()));
    },
    close: () => receiver.stop(),
  };
  await receiver.start();
  return receiver;
}
