/**
 * Fault injection: the request schema, the in-memory registry of active faults, and the optional
 * persistence in Redis (one hash, one field per instance) that makes a fault survive a restart.
 */
import type { Redis } from 'ioredis';
import { z } from 'zod';

const common = {
  /** Also store the fault in Redis so it is re-applied when the process starts again. */
  persist: z.boolean().optional(),
  /** Clear the fault automatically after this many seconds. */
  ttlSeconds: z.number().positive().max(86_400).optional(),
};

export const faultSpecSchema = z.discriminatedUnion('fault', [
  z.strictObject({ fault: z.literal('crash'), ...common }),
  z.strictObject({ fault: z.literal('hang'), ...common }),
  z.strictObject({
    fault: z.literal('fail-health'),
    reason: z.string().min(1).max(500).optional(),
    ...common,
  }),
  z.strictObject({ fault: z.literal('leak-pool'), count: z.number().int().min(1).max(1000), ...common }),
  z.strictObject({ fault: z.literal('error-rate'), rate: z.number().min(0).max(1), ...common }),
  z.strictObject({
    fault: z.literal('slow-queries'),
    seconds: z.number().positive().max(3600),
    /** Share of business queries that are slow (default 1: all of them). */
    probability: z.number().min(0).max(1).optional(),
    ...common,
  }),
  z.strictObject({
    fault: z.literal('queue-flood'),
    /** Jobs pushed at once. */
    jobs: z.number().int().min(0).max(1_000_000).optional(),
    /** Extra jobs per second while the fault is active (the producer honours the pause flag). */
    ratePerSecond: z.number().min(0).max(10_000).optional(),
    ...common,
  }),
]);

export type FaultSpec = z.infer<typeof faultSpecSchema>;
export type FaultName = FaultSpec['fault'];
export const FAULT_NAMES: readonly FaultName[] = [
  'crash',
  'hang',
  'fail-health',
  'leak-pool',
  'error-rate',
  'slow-queries',
  'queue-flood',
];

export type FaultOf<N extends FaultName> = Extract<FaultSpec, { fault: N }>;

export interface ActiveFault {
  spec: FaultSpec;
  since: string;
  expiresAt: string | null;
}

export function parseFaultSpec(body: unknown): { ok: true; spec: FaultSpec } | { ok: false; error: string } {
  const parsed = faultSpecSchema.safeParse(body);
  if (parsed.success) return { ok: true, spec: parsed.data };
  const known = FAULT_NAMES.join(', ');
  const details = parsed.error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`).join('; ');
  return { ok: false, error: `invalid fault: ${details} (known faults: ${known})` };
}

export interface FaultHooks {
  /** Performs the fault's side effects; returns details for the caller (e.g. connections leaked). */
  apply(spec: FaultSpec): Promise<Record<string, unknown>>;
  clear(spec: FaultSpec): Promise<void>;
}

/** Active faults of this process; side effects are delegated to the hooks. */
export class FaultRegistry {
  private readonly active = new Map<FaultName, ActiveFault>();
  private readonly timers = new Map<FaultName, NodeJS.Timeout>();

  constructor(
    private readonly hooks: FaultHooks,
    private readonly onExpireError: (name: FaultName, err: unknown) => void,
  ) {}

  get<N extends FaultName>(name: N): FaultOf<N> | undefined {
    return this.active.get(name)?.spec as FaultOf<N> | undefined;
  }

  list(): ActiveFault[] {
    return [...this.active.values()];
  }

  persisted(): FaultSpec[] {
    return this.list()
      .map((f) => f.spec)
      .filter((s) => s.persist === true);
  }

  async inject(spec: FaultSpec): Promise<{ entry: ActiveFault; details: Record<string, unknown> }> {
    const previous = this.active.get(spec.fault);
    if (previous) await this.remove(spec.fault);
    const now = Date.now();
    const entry: ActiveFault = {
      spec,
      since: new Date(now).toISOString(),
      expiresAt: spec.ttlSeconds !== undefined ? new Date(now + spec.ttlSeconds * 1000).toISOString() : null,
    };
    this.active.set(spec.fault, entry);
    if (spec.ttlSeconds !== undefined) {
      const timer = setTimeout(() => {
        this.remove(spec.fault).catch((err: unknown) => this.onExpireError(spec.fault, err));
      }, spec.ttlSeconds * 1000);
      timer.unref();
      this.timers.set(spec.fault, timer);
    }
    const details = await this.hooks.apply(spec);
    return { entry, details };
  }

  /** Removes one fault (or all when name is undefined); returns the removed ones. */
  async remove(name?: FaultName): Promise<FaultSpec[]> {
    const names = name ? [name] : [...this.active.keys()];
    const removed: FaultSpec[] = [];
    for (const n of names) {
      const entry = this.active.get(n);
      if (!entry) continue;
      this.active.delete(n);
      const timer = this.timers.get(n);
      if (timer) clearTimeout(timer);
      this.timers.delete(n);
      removed.push(entry.spec);
      await this.hooks.clear(entry.spec);
    }
    return removed;
  }
}

/** Persisted faults of one instance in the Redis hash `key`, field = instance. */
export class FaultStore {
  constructor(
    private readonly redis: Redis,
    private readonly key: string,
    private readonly instance: string,
  ) {}

  async load(): Promise<FaultSpec[]> {
    const raw = await this.redis.hget(this.key, this.instance);
    if (!raw) return [];
    const parsed = z.array(faultSpecSchema).safeParse(JSON.parse(raw));
    if (!parsed.success) throw new Error(`persisted faults in ${this.key}[${this.instance}] are invalid`);
    return parsed.data;
  }

  async save(specs: FaultSpec[]): Promise<void> {
    if (specs.length === 0) await this.redis.hdel(this.key, this.instance);
    else await this.redis.hset(this.key, this.instance, JSON.stringify(specs));
  }
}
