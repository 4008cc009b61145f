/**
 * Shared by the intake tests: the intake built in-process (fastify inject, or listening on a free
 * port) over the real Temporal dev server, on a task queue of its own; optionally a real worker on
 * that queue; a gateway wrapper that counts every start and signal attempt.
 */
import { abandonSignal } from '../../definitions/messages';
import { NativeConnection, Worker } from '@temporalio/worker';
import type { Client } from '@temporalio/client';
import type { FastifyInstance } from 'fastify';
import { createActivities } from '../../activities';
import { connectClient } from '../../client/connection';
import { alertRunbookMap } from '../../client/intake/mapping';
import { createIntakeMetrics, type IntakeMetrics } from '../../client/intake/metrics';
import { temporalGateway, type IncidentGateway } from '../../client/intake/delivery';
import { buildIntake, type IntakeOptions } from '../../client/intake/server';
import { loadTemporalConfig } from '../../config/temporal';
import type { WorkerClients } from '../../worker/clients';
import { testClients } from '../../rig/deps';
import { uniqueId } from '../../rig/env';
import { startReceiver, type Receiver } from '../../rig/receivers';
import { createTestWorker, terminateTaskQueue } from '../../rig/temporal';

export const TOKEN = 'intake-test-token-0123456789';
export const HMAC_SECRET = 'intake-test-hmac-secret-0123456789';

export interface CountingGateway extends IncidentGateway {
  calls: { fire: number; resolve: number };
}

export function counting(inner: IncidentGateway): CountingGateway {
  const calls = { fire: 0, resolve: 0 };
  return {
    calls,
    fire: (a) => {
      calls.fire++;
      return inner.fire(a);
    },
    resolve: (a) => {
      calls.resolve++;
      return inner.resolve(a);
    },
    ready: () => inner.ready(),
    dryRun: (a) => inner.dryRun(a),
  };
}

export interface HttpResult {
  status: number;
  text: string;
  json<T = Record<string, unknown>>(): T;
}

export interface IntakeRig {
  client: Client;
  taskQueue: string;
  app: FastifyInstance;
  /** Base URL of the listening intake (real HTTP: light-my-request's inject does not load under Jest). */
  url: string;
  request(
    path: string,
    init?: { method?: string; headers?: Record<string, string>; body?: string | Buffer },
  ): Promise<HttpResult>;
  gateway: CountingGateway;
  metrics: IntakeMetrics;
  /** Workflows ever started on this rig's task queue (visibility is eventually consistent). */
  countStarted(): Promise<number>;
  /**
   * Closes an incident by hand as people must: its targets are unknown names, so a resolve would be
   * refused by the runbook's check; an abandon confirmed with the CTO's one-time code (rig worker only).
   */
  abandonByHand(workflowId: string, reason: string): Promise<void>;
  close(): Promise<void>;
}

export async function startIntakeRig(
  name: string,
  /** `port`: listen there (the stack's Alertmanager sends to STACK_INTAKE_PORT); default a free one. */
  opts: { worker?: boolean; intake?: Partial<IntakeOptions>; port?: number } = {},
): Promise<IntakeRig> {
  const client = await connectClient(loadTemporalConfig());
  const taskQueue = uniqueId(name);
  const gateway = counting(temporalGateway(client, taskQueue));
  const metrics = createIntakeMetrics();
  const app = await buildIntake({
    auth: { bearerToken: TOKEN, hmacSecret: HMAC_SECRET },
    bodyLimitBytes: 64 * 1024,
    targetLabels: ['service', 'container', 'target', 'instance_name'],
    alertRunbooks: alertRunbookMap(),
    unknownAlerts: 'reject',
    gateway,
    metrics,
    ...opts.intake,
  });
  await app.listen({ host: '127.0.0.1', port: opts.port ?? 0 });
  const address = app.server.address();
  const url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  let worker: Worker | undefined;
  let running: Promise<void> | undefined;
  let connection: NativeConnection | undefined;
  let clients: WorkerClients | undefined;
  let receivers: Receiver[] = [];
  if (opts.worker) {
    receivers = await Promise.all([startReceiver(), startReceiver()]);
    // Pages go to local receivers; targets are unknown names, so checks fail fast and nothing real is touched.
    clients = testClients({
      health: { apiUrls: {} },
      notify: {
        pagerDutyEventsUrl: `${receivers[0].url}/v2/enqueue`,
        pagerDutyRoutingKey: 'intake-test-routing-key',
        slackWebhookUrl: `${receivers[1].url}/hooks/oncall`,
      },
      approvers: {
        approvers: [
          { id: 'cto', name: 'Chris (CTO)', roles: ['CTO'], webhookUrl: `${receivers[1].url}/approver/cto` },
        ],
      },
    });
    connection = await NativeConnection.connect({ address: loadTemporalConfig().address });
    worker = await createTestWorker({
      connection,
      taskQueue,
      // A poll still in flight when close() terminates the incidents (waitForHealthy on a target the
      // test made up) must not hold the suite's teardown: in one whole run it did, past Jest's 120 s.
      shutdownForceTime: '20s',
      activities: createActivities(clients.deps),
    });
    running = worker.run();
  }
  return {
    client,
    taskQueue,
    app,
    url,
    async abandonByHand(workflowId, reason) {
      const handle = client.workflow.getHandle(workflowId);
      // A recurrence reuses the workflow ID: only a code sent after this request counts.
      const before = receivers[1]?.requests.length ?? 0;
      const code = () =>
        receivers[1]?.requests
          .slice(before)
          .find((r) => r.path === '/approver/cto' && r.body.workflowId === workflowId)?.body.code as
          string | undefined;
      await handle.signal(abandonSignal, { by: 'intake test', reason });
      const deadline = Date.now() + 60_000;
      while (!code()) {
        if (Date.now() > deadline) throw new Error(`no CTO code for ${workflowId} within 60 s`);
        await new Promise((r) => setTimeout(r, 100));
      }
      await handle.signal(abandonSignal, { by: 'cto', reason, code: code()! });
    },
    async request(path, init = {}) {
      const res = await fetch(`${url}${path}`, {
        method: init.method ?? 'POST',
        headers: init.headers,
        body: init.body,
        signal: AbortSignal.timeout(30_000),
      });
      const text = await res.text();
      return { status: res.status, text, json: <T>() => JSON.parse(text) as T };
    },
    gateway,
    metrics,
    async countStarted() {
      const r = await client.workflow.count(`TaskQueue = '${taskQueue}'`);
      return r.count;
    },
    async close() {
      await app.close();
      // Nothing started here may outlive the test.
      await terminateTaskQueue(client, taskQueue);
      worker?.shutdown();
      await running?.catch(() => undefined);
      await Promise.allSettled([
        connection?.close(),
        clients?.close(),
        ...receivers.map((r) => r.close()),
        client.connection.close(),
      ]);
    },
  };
}

/** One Alertmanager alert (v4) for a target. */
export function amAlert(
  alertname: string,
  service: string,
  status: 'firing' | 'resolved' = 'firing',
  extra: Record<string, unknown> = {},
) {
  const startsAt = new Date(Date.now() - 60_000).toISOString();
  return {
    status,
    labels: { alertname, service, severity: 'P0', instance: '127.0.0.1:1' },
    annotations: { summary: `${alertname} on ${service}`, value: '0' },
    startsAt,
    endsAt: status === 'resolved' ? new Date().toISOString() : '0001-01-01T00:00:00Z',
    generatorURL: 'http://prometheus.local/graph',
    fingerprint: Buffer.from(`${alertname}/${service}`).toString('hex').slice(0, 16),
    ...extra,
  };
}

/** An Alertmanager webhook body (v4) holding these alerts. */
export function amPayload(alerts: ReturnType<typeof amAlert>[]) {
  return {
    version: '4',
    groupKey: `{}:{alertname="${alerts[0]?.labels.alertname ?? 'x'}"}`,
    truncatedAlerts: 0,
    status: alerts.some((a) => a.status === 'firing') ? 'firing' : 'resolved',
    receiver: 'accubooks-runbooks',
    groupLabels: {},
    commonLabels: {},
    commonAnnotations: {},
    externalURL: 'http://alertmanager.local',
    alerts,
  };
}

export const bearer = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };
