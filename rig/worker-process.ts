/**
 * The real worker process (dist/worker/main.js; `npm run build` first), configured only by its
 * environment as production runs it, for the suites that test the process itself: end to end,
 * observability, outages, crashes, the cluster. Ready once its health endpoint answers 200.
 */
import { spawn } from 'node:child_process';
import { createWriteStream, existsSync } from 'node:fs';
import path from 'node:path';
import { semiSpaceNodeArgs } from '../worker/memory';
import { freePort, waitUntil } from './sandbox';

// From the sources under Jest (rig/), or compiled (dist/rig/, as the bench runs it).
const distDir = path.basename(path.resolve(__dirname, '..')) === 'dist' ? '..' : '../dist';
const distFile = (entry: string) => path.join(__dirname, distDir, entry);

export interface WorkerProcess {
  pid: number;
  healthPort: number;
  /** Resolves with the exit code or signal (e.g. SIGKILL) when the process ends. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** What it wrote so far (the last `keepChars` of each; empty when it logs to a file). */
  stdout(): string;
  stderr(): string;
  running(): boolean;
  /** SIGTERM (the worker drains), SIGKILL if it is still there after 15 s. */
  stop(): Promise<void>;
}

export interface WorkerProcessOptions {
  /** Added to this process's environment (TEMPORAL_TASK_QUEUE, receivers, targets...). */
  env: Record<string, string>;
  /** For messages: which worker this is. */
  name?: string;
  /** Write both streams to this file instead of keeping them in memory. */
  logFile?: string;
  keepChars?: number;
  /** The entry point under dist/ (default the production worker; the crash harness: rig/chaos/worker.js). */
  entry?: string;
}

export async function startWorkerProcess(opts: WorkerProcessOptions): Promise<WorkerProcess> {
  const entry = opts.entry ?? 'worker/main.js';
  const workerJs = distFile(entry);
  if (!existsSync(workerJs)) throw new Error(`dist/${entry} is missing: run \`npm run build\` first`);
  const name = opts.name ?? 'the worker';
  const keep = opts.keepChars ?? 1_000_000;
  const healthPort = await freePort();
  const env = {
    ...process.env,
    WORKER_VERSIONING: 'off',
    ...opts.env,
    WORKER_HEALTH_PORT: String(healthPort),
  };
  // Started as production starts it: the main thread's young generation sized too (worker/memory.ts).
  const child = spawn(process.execPath, [...semiSpaceNodeArgs(env), workerJs], {
    // Unversioned unless a test opts in (WORKER_VERSIONING=on, its own WORKER_DEPLOYMENT_NAME): a
    // versioned worker gets no work on a queue whose deployment made another build current.
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  if (opts.logFile) {
    const log = createWriteStream(opts.logFile);
    child.stdout.pipe(log);
    child.stderr.pipe(log);
  } else {
    child.stdout.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-keep)));
    child.stderr.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-keep)));
  }
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  let gone = false;
  void exited.then(() => (gone = true));
  const stop = async () => {
    if (gone) return;
    child.kill('SIGTERM');
    const t = setTimeout(() => child.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(t);
  };
  try {
    await waitUntil(
      `${name} to poll (healthz 200)`,
      async () => {
        if (gone) throw new Error(`${name} exited during start-up`);
        const res = await fetch(`http://127.0.0.1:${healthPort}/healthz`, {
          signal: AbortSignal.timeout(1000),
        }).catch(() => undefined);
        return res?.status === 200;
      },
      60_000,
    );
  } catch (e) {
    await stop();
    const output = opts.logFile ? `see ${opts.logFile}` : `${out.slice(-3000)}\n${err.slice(-3000)}`;
    throw new Error(`${(e as Error).message}\nworker output:\n${output}`);
  }
  return {
    pid: child.pid!,
    healthPort,
    exited,
    stdout: () => out,
    stderr: () => err,
    running: () => !gone,
    stop,
  };
}
