/**
 * Applies the worker's memory settings (config/worker-memory.ts). Called before Worker.create: the
 * SDK starts its workflow thread there, and a V8 flag set now applies to that thread's isolate,
 * which holds every cached workflow (the main thread's heap is already sized by then).
 */
import { setFlagsFromString } from 'node:v8';
import type { WorkerOptions } from '@temporalio/worker';
import type { WorkerMemoryConfig } from '../config/worker-memory';

export function applyWorkerMemory(m: WorkerMemoryConfig): Pick<WorkerOptions, 'maxCachedWorkflows'> {
  if (m.semiSpaceMb > 0) setFlagsFromString(`--max-semi-space-size=${m.semiSpaceMb}`);
  return m.maxCachedWorkflows === undefined ? {} : { maxCachedWorkflows: m.maxCachedWorkflows };
}
