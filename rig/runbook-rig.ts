/**
 * Everything a metric-driven runbook test needs (P0-2, P1-1, P1-2, P1-3): real activities over the
 * stack's PostgreSQL, Redis and Docker, a private Prometheus scraping the test's own sandboxes, real
 * receivers for the pages, and workers on the dev server (real time, for the real-fault runs) and on
 * the time-skipping server (the escalation rules at their default durations). One workflow bundle
 * is shared by both workers.
 */
import { NativeConnection } from '@temporalio/worker';
import type { Client, WorkflowHandle } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type Docker from 'dockerode';
import { createActivities, type ActivityDeps } from '../activities';
import { connectClient } from '../client/connection';
import { startIncident, type StartIncidentOptions } from '../client/incidents';
import { loadTemporalConfig } from '../config/temporal';
import type { WorkerClients } from '../worker/clients';
import { testClients } from './deps';
import { uniqueId } from './env';
import { startTestPrometheus, type TestPrometheus } from './prometheus';
import { startReceiver, type Receiver } from './receivers';
import { startSandbox, testDocker, type Sandbox } from './sandbox';
import { createTestWorker, timeSkippingEnv } from './temporal';

export interface RunbookRig {
  taskQueue: string;
  prom: TestPrometheus;
  pagerDuty: Receiver;
  slack: Receiver;
  clients: WorkerClients;
  /** Dev server client (real time). */
  dev: Client;
  /** Time-skipping environment (its own client: env.client). */
  env: TestWorkflowEnvironment;
  /** Starts an incident through the client helper (dev server or time-skipping); terminated on close if still open. */
  start(
    on: 'dev' | 'time-skipping',
    opts: Omit<StartIncidentOptions, 'client' | 'taskQueue'>,
  ): Promise<WorkflowHandle>;
  /** Starts a sandbox, makes its API known to the activities and has Prometheus scrape it. */
  sandbox(prefix: string, env?: Record<string, string>): Promise<Sandbox>;
  close(): Promise<void>;
}

/**
 * `extra`: more activity dependencies (approvers, Stripe, billing key; `notify` is merged in);
 * `workerEnv`: worker configuration for this rig's activities (e.g. ACCUBOOKS_DB_ROLES).
 */
export async function startRunbookRig(
  name: string,
  extra: Partial<ActivityDeps> = {},
  workerEnv: Record<string, string> = {},
): Promise<RunbookRig> {
  const docker = testDocker();
  const [prom, pagerDuty, slack, env, dev, connection] = await Promise.all([
    startTestPrometheus(docker),
    startReceiver(),
    startReceiver(),
    timeSkippingEnv(),
    connectClient(loadTemporalConfig()),
    NativeConnection.connect({ address: loadTemporalConfig().address }),
  ]);
  const apiUrls: Record<string, string> = {};
  const clients = testClients(
    {
      ...extra,
      prometheusUrl: prom.url,
      health: { apiUrls },
      notify: {
        pagerDutyEventsUrl: `${pagerDuty.url}/v2/enqueue`,
        pagerDutyRoutingKey: 'test-routing-key',
        slackWebhookUrl: `${slack.url}/hooks/oncall`,
        ...extra.notify,
      },
    },
    workerEnv,
  );
  const taskQueue = uniqueId(name);
  const activities = createActivities(clients.deps);
  // One workflow bundle (made in global setup) serves both workers.
  const workers = await Promise.all([
    createTestWorker({ connection: env.nativeConnection, taskQueue, activities }),
    createTestWorker({ connection, taskQueue, activities }),
  ]);
  const running = workers.map((w) => w.run());
  const sandboxes: Sandbox[] = [];
  const handles: WorkflowHandle[] = [];

  return {
    taskQueue,
    prom,
    pagerDuty,
    slack,
    clients,
    dev,
    env,
    async start(on, opts) {
      const handle = await startIncident({ ...opts, client: on === 'dev' ? dev : env.client, taskQueue });
      handles.push(handle);
      return handle;
    },
    async sandbox(prefix, extraEnv = {}) {
      const sb = await startSandbox(prefix, extraEnv);
      sandboxes.push(sb);
      apiUrls[sb.name] = sb.url;
      prom.watch(sb.name);
      return sb;
    },
    async close() {
      // A failed test may leave its incident open: end it so the workers can shut down.
      await Promise.allSettled(handles.map((h) => h.terminate('test finished')));
      for (const w of workers) w.shutdown();
      await Promise.race([Promise.allSettled(running), new Promise((r) => setTimeout(r, 30_000))]);
      await removeSandboxes(docker, sandboxes);
      await Promise.allSettled([
        env.teardown(),
        prom.stop(),
        pagerDuty.close(),
        slack.close(),
        clients.close(),
        connection.close(),
        dev.connection.close(),
      ]);
    },
  };
}

/** Removes the rig's sandboxes and the replicas runbooks scaled out for them. */
async function removeSandboxes(docker: Docker, sandboxes: Sandbox[]): Promise<void> {
  const replicas = await docker
    .listContainers({ all: true, filters: { label: ['accubooks.scaled-for'] } })
    .catch(() => []);
  await Promise.allSettled([
    ...sandboxes.map((s) => s.remove()),
    ...replicas
      .filter((c) => sandboxes.some((s) => c.Labels['accubooks.scaled-for'] === s.name))
      .map((c) => docker.getContainer(c.Id).remove({ force: true })),
  ]);
}
