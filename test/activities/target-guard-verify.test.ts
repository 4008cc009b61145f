/**
 * The guard's check of a requester (verifyRequester) refuses only on an answer about the requester
 * (no such workflow, no incident state), never because Temporal could not be asked: a refused restart
 * is final for that request, so a hiccup must be retried, not turn into "not a running incident".
 * Seen in a whole run: a query dropped by the test worker was read as a refusal and P0-3's freeze
 * restart never happened.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { Client, Connection } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createTargetGuardActivities } from '../../activities/target-guard';
import { connectClient } from '../../client/connection';
import { loadTemporalConfig } from '../../config/temporal';

const guard = createTargetGuardActivities();
const request = (workflowId: string) => ({
  target: 'accubooks-api',
  kind: 'restart',
  requestId: 'req-verify-1',
  requester: { workflowId, incidentId: 'P0-1-verify', runbook: 'P0-1' },
});

let dev: Client;
let silent: Server;
const sockets = new Set<Socket>();
let unreachable: Client;

beforeAll(async () => {
  dev = await connectClient(loadTemporalConfig());
  // A Temporal address that accepts TCP and never answers: every call fails (deadline), as when the
  // frontend is overloaded or a node is lost. No retries in the client, so the failure shows at once.
  silent = createServer((socket) => sockets.add(socket));
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  const { port } = silent.address() as { port: number };
  const connection = Connection.lazy({ address: `127.0.0.1:${port}`, interceptors: [] });
  unreachable = new Client({ connection });
});

afterAll(async () => {
  await unreachable?.connection.close();
  await dev?.connection.close();
  for (const socket of sockets) socket.destroy();
  silent?.close();
});

test('Temporal not answering: the check fails as retryable (the guard retries it), it does not refuse', async () => {
  const env = new MockActivityEnvironment(undefined, { client: unreachable });
  const started = Date.now();
  const err = await env
    .run(
      // The deadline stands in for the server's own: the call is cut after 2 s.
      async (input: Parameters<typeof guard.verifyRequester>[0]) => {
        return unreachable.connection.withDeadline(Date.now() + 2_000, () => guard.verifyRequester(input));
      },
      request('p0-1-running-somewhere'),
    )
    .catch((e: unknown) => e);
  expect(err).toBeInstanceOf(ApplicationFailure);
  expect(err).toMatchObject({ type: 'DEPENDENCY_UNAVAILABLE', nonRetryable: false });
  expect((err as Error).message).toMatch(/cannot read p0-1-running-somewhere's state/);
  expect(Date.now() - started).toBeLessThan(30_000);
});

test('an answer about the requester still refuses: no such workflow', async () => {
  const env = new MockActivityEnvironment(undefined, { client: dev });
  const verdict = await env.run(guard.verifyRequester, request('no-such-incident-verify'));
  expect(verdict).toMatchObject({ ok: false, detail: expect.stringMatching(/not a running incident/) });
});
