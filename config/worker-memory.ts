/**
 * The worker's memory settings (issue 19: 1,000 open incidents within 512 MB). Every cached
 * workflow lives in the SDK's workflow thread, whose V8 heap keeps each run's own copy of the
 * bundle's modules and, by default, lets its young generation grow to 128 MB (Node 24, 4 GB heap
 * limit, measured); a smaller young generation is collected more often and keeps less garbage
 * resident (measured in the bench: README, Performance).
 */
import { z } from 'zod';
import { parseEnv, type RawEnv } from './errors';

export const workerMemorySchema = z.object({
  /**
   * V8's `--max-semi-space-size` for the workflow thread, in MB; 0 = Node's default. Set before the
   * workflow thread starts, so it applies to the isolate that holds the cached workflows.
   */
  WORKER_V8_SEMI_SPACE_MB: z.coerce
    .number({ message: 'must be a whole number of MB' })
    .int({ message: 'must be a whole number of MB' })
    .min(0, { message: 'must be 0 (Node default) or 1 to 64' })
    .max(64, { message: 'must be 0 (Node default) or 1 to 64' })
    .default(2),
  /**
   * Open incidents kept in the worker's cache; one evicted from it is replayed from its history on
   * its next event. Unset: the SDK's default (from the heap limit; about 2,400 with Node's default on 24 GB).
   */
  WORKER_MAX_CACHED_WORKFLOWS: z.coerce
    .number({ message: 'must be a whole number' })
    .int({ message: 'must be a whole number' })
    .min(2, { message: 'must be 2 or more (the SDK needs two for sticky execution)' })
    .optional(),
});

export interface WorkerMemoryConfig {
  /** 0 = Node's default. */
  semiSpaceMb: number;
  /** Undefined: the SDK's default. */
  maxCachedWorkflows?: number;
}

export const workerMemoryFrom = (e: z.infer<typeof workerMemorySchema>): WorkerMemoryConfig => ({
  semiSpaceMb: e.WORKER_V8_SEMI_SPACE_MB,
  maxCachedWorkflows: e.WORKER_MAX_CACHED_WORKFLOWS,
});

/** The memory settings alone (the bench's worker process reads them as the worker does). */
export const loadWorkerMemory = (env: RawEnv = process.env): WorkerMemoryConfig =>
  workerMemoryFrom(parseEnv(workerMemorySchema, env));
