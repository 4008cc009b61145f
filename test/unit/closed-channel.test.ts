/**
 * test/setup/closed-channel.ts: a call the client retries after its connection was closed fails
 * that call; it does not crash the Jest process.
 */
import { Connection } from '@temporalio/client';
import { createServer } from 'node:net';

test('a call retried after its connection closed rejects (CANCELLED) instead of crashing the process', async () => {
  // A port nobody listens on: every attempt is UNAVAILABLE, which the client retries from a timer.
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((r) => server.close(() => r()));

  const conn = Connection.lazy({ address: `127.0.0.1:${port}` });
  const call = conn.workflowService.getSystemInfo({});
  const outcome = call.then(
    () => 'answered',
    (err: Error) => err.message,
  );
  // Let the first attempt fail and its retry be scheduled, then close under it.
  await new Promise((r) => setTimeout(r, 50));
  await conn.close();
  expect(await outcome).toMatch(/shut down|CANCELLED|Cancelled/i);
});
