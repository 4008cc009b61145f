/**
 * The worker-crash rig: the real worker process (dist/worker/main.js, `npm run build` first) in
 * chaos mode (rig/chaos/hooks.ts, through the test entry point rig/chaos/worker.ts), started from one prebuilt workflow bundle so a restart takes a
 * second, killed with SIGKILL by its own hook at a chosen activity, and started again.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';
import type Docker from 'dockerode';
import { waitUntil } from '../../rig/sandbox';
import { startWorkerProcess, type WorkerProcess } from '../../rig/worker-process';

export const repo = path.join(__dirname, '../..');
export const artifacts = path.join(repo, 'test-artifacts', 'chaos');
const dist = (p: string) => path.join(repo, 'dist', p);

/** One workflow bundle with the chaos workflow interceptor, shared by every worker process. */
export async function chaosBundle(): Promise<string> {
  for (const f of ['rig/chaos/worker.js', 'workflows/index.js', 'rig/chaos/workflow-interceptors.js']) {
    if (!existsSync(dist(f))) throw new Error(`dist/${f} is missing: run npm run build first`);
  }
  const noop = () => undefined;
  const { code } = await bundleWorkflowCode({
    workflowsPath: dist('workflows/index.js'),
    workflowInterceptorModules: [dist('rig/chaos/workflow-interceptors.js')],
    logger: { trace: noop, debug: noop, info: noop, log: noop, warn: noop, error: noop },
  });
  mkdirSync(path.join(repo, '.cache'), { recursive: true });
  const file = path.join(repo, '.cache', `chaos-workflow-bundle-${process.pid}.js`);
  writeFileSync(file, code);
  return file;
}

export interface Kill {
  activityType: string;
  activityId: string;
  attempt: number;
  workflowId: string;
  phase: string;
  pid: number;
  at: string;
}

/** A worker process per incident: its own task queue, target and receivers, by environment. */
export class WorkerRig {
  private n = 0;
  readonly marker: string;
  readonly kills: Kill[] = [];
  current?: WorkerProcess;

  constructor(
    readonly name: string,
    private readonly bundle: string,
    private readonly env: Record<string, string>,
  ) {
    mkdirSync(artifacts, { recursive: true });
    this.marker = path.join(artifacts, `${name}.kills.jsonl`);
    writeFileSync(this.marker, '');
  }

  /** Starts a worker; with `killAt` it SIGKILLs itself at that activity (see rig/chaos/hooks.ts). */
  async start(killAt?: string): Promise<WorkerProcess> {
    const n = ++this.n;
    const proc = await startWorkerProcess({
      name: `worker ${this.name}#${n}`,
      entry: 'rig/chaos/worker.js',
      logFile: path.join(artifacts, `${this.name}.worker-${n}.log`),
      env: {
        ...this.env,
        WORKER_WORKFLOW_BUNDLE: this.bundle,
        CHAOS_MODE: '1',
        CHAOS_MARKER: this.marker,
        ...(killAt ? { CHAOS_KILL_AT: killAt } : {}),
      },
    });
    this.current = proc;
    return proc;
  }

  /** The kills the hook recorded (one JSON line each, written just before SIGKILL). */
  readKills(): Kill[] {
    return readFileSync(this.marker, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Kill);
  }

  async stop(): Promise<void> {
    await this.current?.stop();
  }
}

export interface DockerEvent {
  Action: string;
  name: string;
  image?: string;
  /** Milliseconds since the epoch (from the engine's timeNano). */
  time: number;
}

/** Every container event of the stack's private engine (GET /events), recorded from now on. */
export async function recordDockerEvents(docker: Docker): Promise<{ events: DockerEvent[]; close(): void }> {
  const events: DockerEvent[] = [];
  const stream = (await docker.getEvents({
    filters: { type: ['container'] },
  })) as NodeJS.ReadableStream & { destroy?: () => void };
  let buf = '';
  stream.on('data', (chunk: Buffer) => {
    buf += chunk.toString();
    let i: number;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i).trim();
      buf = buf.slice(i + 1);
      if (!line) continue;
      try {
        const e = JSON.parse(line) as {
          Action: string;
          timeNano: number;
          Actor?: { Attributes?: Record<string, string> };
        };
        events.push({
          Action: e.Action,
          name: e.Actor?.Attributes?.name ?? '',
          image: e.Actor?.Attributes?.image,
          time: e.timeNano / 1e6,
        });
      } catch {
        /* a partial line; the rest follows */
      }
    }
  });
  stream.on('error', () => undefined);
  return { events, close: () => stream.destroy?.() };
}

/** Waits for a condition without failing: true when it held in time. */
export async function eventually(fn: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  try {
    await waitUntil('condition', fn, timeoutMs);
    return true;
  } catch {
    return false;
  }
}
