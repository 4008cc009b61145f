/**
 * The dev-server rig of benchmarks 1, 2 and 3: the worker in a process of its own
 * (bench/worker-process.ts: runbooks + the floor workflow, one bundle, one worker, so the floor has
 * the same server and worker settings), the real intake process (real HTTP on a free port, folding
 * storms in Redis as in production), and in this process the client and the load generator.
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { Redis } from 'ioredis';
import type { Client } from '@temporalio/client';
import { connectClient } from '../client/connection';
import { loadTemporalConfig } from '../config/temporal';
import { startReceiver } from '../rig/receivers';
import { need } from '../rig/env';
import { freePort } from '../rig/sandbox';
import { semiSpaceNodeArgs } from '../worker/memory';
import type { WorkerProcessOptions, WorkerStatus } from './worker-process';
import { benchBundleFile } from './bundle';
import { pool, sleep, within } from './measure';
import type { BenchSizes } from './sizes';

/** The compiled worker process (the test command and `npm run bench` build first). */
const WORKER_PROCESS = path.resolve(
  __dirname,
  '..',
  __dirname.includes(`${path.sep}dist${path.sep}`) ? '' : 'dist',
  'bench/worker-process.js',
);

interface WorkerProc {
  pid: number;
  status(): Promise<WorkerStatus>;
  stop(): Promise<void>;
}

/** Forks the benchmark worker (bench/worker-process.ts) and waits until it polls. */
/** A child asked to stop gets 30 s to exit; then SIGKILL. */
async function killIfStillRunning(child: ChildProcess, exited: Promise<unknown>): Promise<void> {
  if (
    (await within(
      exited.then(() => true),
      30_000,
      false,
    )) === false
  ) {
    child.kill('SIGKILL');
    await exited;
  }
}

async function forkWorker(opts: WorkerProcessOptions, env: Record<string, string>): Promise<WorkerProc> {
  if (!existsSync(WORKER_PROCESS))
    throw new Error(`${WORKER_PROCESS} is missing: run \`npm run build\` first`);
  const childEnv = { ...process.env, ...env };
  const child: ChildProcess = fork(WORKER_PROCESS, [JSON.stringify(opts)], {
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    env: childEnv,
    // As the production worker starts: both threads' young generation from WORKER_V8_SEMI_SPACE_MB.
    execArgv: [...process.execArgv, ...semiSpaceNodeArgs(childEnv)],
  });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('bench worker did not start within 60 s')), 60_000);
    child.on('message', (m: { ready?: boolean }) => {
      if (m.ready) {
        clearTimeout(t);
        resolve();
      }
    });
    child.once('exit', (code) => {
      clearTimeout(t);
      reject(new Error(`bench worker exited (code ${code}) before it was ready`));
    });
  });
  return {
    pid: child.pid!,
    status: () =>
      new Promise<WorkerStatus>((resolve) => {
        const on = (m: { status?: WorkerStatus }) => {
          if (!m.status) return;
          child.off('message', on);
          resolve(m.status);
        };
        child.on('message', on);
        child.send({ cmd: 'status' });
      }),
    async stop() {
      if (child.exitCode === null) child.send({ cmd: 'shutdown' });
      await killIfStillRunning(child, exited);
    },
  };
}

const TOKEN = `bench-${randomUUID()}`;

export interface DevRig {
  client: Client;
  taskQueue: string;
  intakeUrl: string;
  worker: WorkerProc;
  intakePid: number;
  post(body: unknown): Promise<{ status: number; json: IntakeReply; ms: number }>;
  /** Alerts recorded by the intake and not yet delivered to Temporal. */
  pendingFolds(): Promise<number>;
  close(): Promise<void>;
}

export interface IntakeReply {
  started?: number;
  joined?: number;
  queued?: number;
  ignored?: number;
  failed?: number;
  results?: { index: number; status?: string; workflowId?: string; outcome: string }[];
}

/** The compiled intake (client/intake/main.ts), run as production runs it. */
const INTAKE_PROCESS = path.join(path.dirname(WORKER_PROCESS), '../client/intake/main.js');

/** Starts the real intake process on a free port, folding in the stack's Redis; resolves once it answers. */
async function spawnIntake(
  taskQueue: string,
  foldPrefix: string,
): Promise<{ url: string; pid: number; stop(): Promise<void> }> {
  const port = await freePort();
  const child = spawn(process.execPath, [INTAKE_PROCESS], {
    stdio: ['ignore', 'ignore', 'inherit'],
    env: {
      ...process.env,
      TEMPORAL_TASK_QUEUE: taskQueue,
      INTAKE_HOST: '127.0.0.1',
      INTAKE_PORT: String(port),
      INTAKE_BEARER_TOKEN: TOKEN,
      INTAKE_FOLD_REDIS_URL: need('REDIS_URL'),
      INTAKE_FOLD_PREFIX: foldPrefix,
      INTAKE_FOLD_WINDOW_MS: '1000',
    },
  });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null)
      throw new Error(`the intake exited (code ${child.exitCode}) before it answered`);
    const ok = await fetch(`${url}/healthz`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) break;
    if (Date.now() > deadline) throw new Error('the intake did not answer /healthz within 30 s');
    await sleep(50);
  }
  return {
    url,
    pid: child.pid!,
    async stop() {
      // SIGTERM: the intake delivers what is still pending, then exits.
      if (child.exitCode === null) child.kill('SIGTERM');
      await killIfStillRunning(child, exited);
    },
  };
}

/**
 * Alertmanager keeps its connections to a receiver open; so does the load generator (`agent`, keep-
 * alive). Plain `http.request` costs a fraction of `fetch` per request, so the latency measured is
 * the intake's rather than the generator's own CPU (it shares the two cores).
 */
function postJson(agent: http.Agent, url: string, body: unknown): Promise<{ status: number; json: unknown }> {
  const payload = Buffer.from(JSON.stringify(body));
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      {
        method: 'POST',
        agent,
        timeout: 60_000,
        headers: {
          authorization: `Bearer ${TOKEN}`,
          'content-type': 'application/json',
          'content-length': payload.length,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          try {
            resolve({
              status: res.statusCode ?? 0,
              json: JSON.parse(Buffer.concat(chunks).toString('utf8')),
            });
          } catch {
            reject(new Error(`${url}: HTTP ${res.statusCode} with a body that is not JSON`));
          }
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${url}: no answer within 60 s`)));
    req.on('error', reject);
    req.end(payload);
  });
}

/** `workerEnv`: variables of the worker process on top of this one's (a setting compared in the bench). */
export async function startDevRig(
  name: string,
  sizes: BenchSizes,
  workerEnv: Record<string, string> = {},
): Promise<DevRig> {
  const [bundlePath, client, pagerDuty, slack] = await Promise.all([
    benchBundleFile(),
    connectClient(loadTemporalConfig()),
    startReceiver(),
    startReceiver(),
  ]);
  const taskQueue = `bench-${name}-${randomUUID().slice(0, 8)}`;
  const worker = await forkWorker(
    {
      taskQueue,
      bundlePath,
      maxCachedWorkflows: sizes.maxCachedWorkflows,
      pagerDutyUrl: pagerDuty.url,
      slackUrl: slack.url,
    },
    workerEnv,
  );
  // The intake as production runs it in a storm: its own process, Alertmanager's alerts folded in Redis.
  const foldPrefix = `bench:fold:${taskQueue}`;
  const intake = await spawnIntake(taskQueue, foldPrefix);
  const redis = new Redis(need('REDIS_URL'), { maxRetriesPerRequest: 1 });
  const intakeAgent = new http.Agent({ keepAlive: true, maxSockets: 256 });
  return {
    client,
    taskQueue,
    intakeUrl: intake.url,
    worker,
    intakePid: intake.pid,
    async post(body) {
      const t0 = performance.now();
      const res = await postJson(intakeAgent, `${intake.url}/alerts/alertmanager`, body);
      return { status: res.status, json: res.json as IntakeReply, ms: performance.now() - t0 };
    },
    pendingFolds: () => redis.scard(`${foldPrefix}:pending`),
    async close() {
      await intake.stop();
      intakeAgent.destroy();
      redis.disconnect();
      await terminateAll(client, taskQueue);
      await worker.stop();
      await Promise.allSettled([pagerDuty.close(), slack.close(), client.connection.close()]);
    },
  };
}

/** Nothing a benchmark started may outlive it. */
async function terminateAll(client: Client, taskQueue: string): Promise<void> {
  const ids: { workflowId: string; runId: string }[] = [];
  for await (const wf of client.workflow.list({
    query: `TaskQueue = '${taskQueue}' AND ExecutionStatus = 'Running'`,
  })) {
    ids.push({ workflowId: wf.workflowId, runId: wf.runId });
  }
  await pool(ids, 16, (w) =>
    client.workflow
      .getHandle(w.workflowId, w.runId)
      .terminate('benchmark finished')
      .catch(() => undefined),
  );
}
