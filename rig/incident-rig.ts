/**
 * The rig of a runbook test on one sandbox: the test's own sandbox container, the receivers the
 * runbook notifies (the approval world with its team chat, mail and approvers, or a chat receiver of
 * its own; a PagerDuty receiver), and workers built as the real one is, with real activities, on the
 * time-skipping server or on the dev server. Everything it started is closed by `close()`.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { NativeConnection, type Worker } from '@temporalio/worker';
import type { Client } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { createActivities, type ActivityDeps } from '../activities';
import { connectClient } from '../client/connection';
import { loadTemporalConfig } from '../config/temporal';
import type { WorkerClients } from '../worker/clients';
import { startApprovalWorld, type ApprovalWorld } from './approvals';
import { testClients } from './deps';
import { uniqueId } from './env';
import { startReceiver, type Receiver } from './receivers';
import { startSandbox, type Sandbox } from './sandbox';
import { createTestWorker, terminateTaskQueue, timeSkippingEnv, type TestWorkerOptions } from './temporal';

export interface IncidentRigOptions {
  /** Names the sandbox (`abk-<name>`), the task queue and the evidence folder. */
  name: string;
  /** The time-skipping server (default) or the dev server (real time, what the UI and CLI see). */
  server?: 'time-skipping' | 'dev';
  /** Default: `<name>-<unique>`. */
  taskQueue?: string;
  /** Whether to start the sandbox (default yes; a runbook on an unknown target needs none). */
  sandbox?: boolean;
  /** The sandbox container's environment (e.g. its BILLING_KEY). */
  sandboxEnv?: Record<string, string>;
  /** Starts the approval world: chat goes to its team chat, codes by mail and personal webhooks. */
  approvals?: boolean;
  /** Starts a PagerDuty receiver and routes pages to it with this routing key. */
  pagerDutyRoutingKey?: string;
  /** The chat webhook's path after `/hooks/` (who reads it: `incidents`, `finance`, `oncall`, ...). */
  chatHook: string;
}

export interface RigWorkerOptions {
  /** Default: the rig's task queue. */
  taskQueue?: string;
  /** More or other activity dependencies than the rig's (e.g. the billing store). */
  deps?: Partial<ActivityDeps>;
  /** Worker configuration read through the worker's own config (e.g. REFUND_CAP_*). */
  workerEnv?: Record<string, string>;
  /** Worker options besides the connection, task queue and activities. */
  worker?: Omit<TestWorkerOptions, 'connection' | 'taskQueue' | 'activities'>;
}

export interface RigWorker {
  worker: Worker;
  running: Promise<void>;
  clients: WorkerClients;
  taskQueue: string;
}

export interface IncidentRig {
  taskQueue: string;
  /** Unless `sandbox: false`. */
  sandbox: Sandbox;
  /** With `approvals`. */
  world: ApprovalWorld;
  /** With `pagerDutyRoutingKey`. */
  pagerDuty: Receiver;
  /** Without `approvals`: the chat receiver of its own. */
  slack: Receiver;
  /** The time-skipping environment (`server: 'time-skipping'`). */
  env: TestWorkflowEnvironment;
  /** The client of the rig's server. */
  client: Client;
  evidenceDir: string;
  /** The activity dependencies every worker of the rig gets (sandbox URL, notifications, approvers). */
  deps(): Partial<ActivityDeps>;
  /** Starts a worker (running until the test shuts it down, or until `close()`). */
  startWorker(opts?: RigWorkerOptions): Promise<RigWorker>;
  close(): Promise<void>;
}

export async function startIncidentRig(opts: IncidentRigOptions): Promise<IncidentRig> {
  const server = opts.server ?? 'time-skipping';
  const [sandbox, world, pagerDuty, slack, env, dev] = await Promise.all([
    opts.sandbox === false ? undefined : startSandbox(`abk-${opts.name}`, opts.sandboxEnv ?? {}),
    opts.approvals ? startApprovalWorld() : undefined,
    opts.pagerDutyRoutingKey ? startReceiver() : undefined,
    opts.approvals ? undefined : startReceiver(),
    server === 'time-skipping' ? timeSkippingEnv() : undefined,
    server === 'dev' ? connectClient(loadTemporalConfig()) : undefined,
  ]);
  const devConnection =
    server === 'dev' ? await NativeConnection.connect({ address: loadTemporalConfig().address }) : undefined;
  const client = env ? env.client : dev!;
  const taskQueue = opts.taskQueue ?? uniqueId(opts.name);
  const evidenceDir = mkdtempSync(path.join(tmpdir(), `abk-${opts.name}-evidence-`));
  const started: RigWorker[] = [];
  const deps = (): Partial<ActivityDeps> => ({
    ...(sandbox ? { health: { apiUrls: { [sandbox.name]: sandbox.url } } } : {}),
    notify: {
      slackWebhookUrl: `${world ? world.team.url : slack!.url}/hooks/${opts.chatHook}`,
      ...(pagerDuty
        ? { pagerDutyEventsUrl: `${pagerDuty.url}/v2/enqueue`, pagerDutyRoutingKey: opts.pagerDutyRoutingKey }
        : {}),
      ...(world ? { mailer: world.mailbox.transport(), mailFrom: 'runbooks@accubooks.test' } : {}),
    },
    ...(world ? { approvers: world.directory } : {}),
  });

  return {
    taskQueue,
    sandbox: sandbox!,
    world: world!,
    pagerDuty: pagerDuty!,
    slack: slack!,
    env: env!,
    client,
    evidenceDir,
    deps,
    async startWorker(w = {}) {
      const base = deps();
      const clients = testClients(
        { ...base, ...w.deps, notify: { ...base.notify, ...w.deps?.notify } },
        { EVIDENCE_DIR: evidenceDir, ...w.workerEnv },
      );
      const workerTaskQueue = w.taskQueue ?? taskQueue;
      const worker = await createTestWorker({
        ...w.worker,
        connection: env ? env.nativeConnection : devConnection!,
        taskQueue: workerTaskQueue,
        activities: createActivities(clients.deps),
      }).catch(async (err: unknown) => {
        await clients.close();
        throw err;
      });
      const rigWorker = { worker, running: worker.run(), clients, taskQueue: workerTaskQueue };
      started.push(rigWorker);
      return rigWorker;
    },
    async close() {
      // Nothing started on the dev server may outlive the test (the time-skipping server goes with it).
      if (dev) await Promise.allSettled(started.map((w) => terminateTaskQueue(dev, w.taskQueue)));
      for (const w of started) if (w.worker.getState() === 'RUNNING') w.worker.shutdown();
      await Promise.allSettled(started.map((w) => w.running));
      await Promise.allSettled([
        ...started.map((w) => w.clients.close()),
        env?.teardown(),
        devConnection?.close(),
        dev?.connection.close(),
        sandbox?.remove(),
        world?.close(),
        pagerDuty?.close(),
        slack?.close(),
      ]);
    },
  };
}
