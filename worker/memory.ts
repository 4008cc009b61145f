/**
 * Applies the worker's memory settings (config/worker-memory.ts). The young generation has to be
 * sized where each V8 isolate starts: the workflow thread's (which holds every cached workflow)
 * from here, before Worker.create starts that thread; the main thread's (which decodes every
 * activation) only from node's command line, which the launchers give (`npm run worker`, the image,
 * the demo, the test and bench rigs: `semiSpaceNodeArgs`). On the two-node cluster the main
 * thread's young generation grew to its 48 MB default at 1,000 open incidents (README, Performance).
 */
import { setFlagsFromString } from 'node:v8';
import type { WorkerOptions } from '@temporalio/worker';
import type { RawEnv } from '../config/errors';
import { loadWorkerMemory, type WorkerMemoryConfig } from '../config/worker-memory';

/** The one V8 flag both threads take, from inside (workflow thread) or on node's command line (main). */
const semiSpaceFlag = (mb: number) => `--max-semi-space-size=${mb}`;

export function applyWorkerMemory(m: WorkerMemoryConfig): Pick<WorkerOptions, 'maxCachedWorkflows'> {
  if (m.semiSpaceMb > 0) setFlagsFromString(semiSpaceFlag(m.semiSpaceMb));
  return m.maxCachedWorkflows === undefined ? {} : { maxCachedWorkflows: m.maxCachedWorkflows };
}

/**
 * The node arguments that give a worker process started with `env` the same young generation in its
 * main thread. None for a value that is not valid: the worker itself then refuses it, naming it.
 */
export function semiSpaceNodeArgs(env: RawEnv): string[] {
  let m: WorkerMemoryConfig;
  try {
    m = loadWorkerMemory(env);
  } catch {
    return [];
  }
  return m.semiSpaceMb > 0 ? [semiSpaceFlag(m.semiSpaceMb)] : [];
}

/**
 * What node's command line says of the main thread's young generation, when the setting asks for
 * one and node was started without it (the worker logs this once: its memory is then Node's).
 */
export function mainThreadSemiSpaceMissing(
  m: WorkerMemoryConfig,
  execArgv: string[] = process.execArgv,
  nodeOptions = process.env.NODE_OPTIONS ?? '',
): string | undefined {
  if (m.semiSpaceMb === 0) return undefined;
  const given = [...execArgv, ...nodeOptions.split(/\s+/)].some((a) => a.startsWith('--max-semi-space-size'));
  return given
    ? undefined
    : `WORKER_V8_SEMI_SPACE_MB=${m.semiSpaceMb} reaches the workflow thread only: node was started without ${semiSpaceFlag(m.semiSpaceMb)}, so the main thread keeps Node's default young generation (start it with \`npm run worker\` or the image, or add the flag)`;
}
