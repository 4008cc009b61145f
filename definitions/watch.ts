/**
 * What a verification watch samples and judges, shared by the watch activity (activities/watch.ts)
 * and the runbooks' verification loops (workflows/verify-loop.ts): conditions, samples, and the pure
 * functions that read and judge them.
 */

/** A condition on a sample: a threshold on a value found by a dotted path, or a combination. */
export type WatchCondition =
  | { path: string; op: '<' | '<=' | '>' | '>='; value: number }
  | { path: string; op: 'known' }
  | { all: WatchCondition[] }
  | { any: WatchCondition[] }
  | { not: WatchCondition }
  /** The last `samples` values at `path` each higher than the one before, slope >= `perMinute`. */
  | { rising: { path: string; samples: number; perMinute: number } }
  | { never: true };

/** One sample: each probe's result by name (a conditional probe that did not run is absent). */
export type WatchSample = Record<string, unknown>;

export interface TimedSample {
  /** Workflow time (ms) of the sample. */
  at: number;
  sample: WatchSample;
}

/** A value by dotted path ("pool.api.utilization", "slow.length"). */
export function valueAt(sample: WatchSample, path: string): unknown {
  let v: unknown = sample;
  for (const key of path.split('.')) {
    if (v === null || v === undefined) return undefined;
    v = (v as Record<string, unknown>)[key];
  }
  return v;
}

const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

/** Evaluates a condition on a sample; `recent` (oldest first, ending with this sample) serves `rising`. */
export function holds(c: WatchCondition, sample: WatchSample, recent: TimedSample[] = []): boolean {
  if ('never' in c) return false;
  if ('all' in c) return c.all.every((x) => holds(x, sample, recent));
  if ('any' in c) return c.any.some((x) => holds(x, sample, recent));
  if ('not' in c) return !holds(c.not, sample, recent);
  if ('rising' in c) {
    const n = Math.max(2, c.rising.samples);
    const pts = recent
      .map((r) => ({ at: r.at, v: num(valueAt(r.sample, c.rising.path)) }))
      .filter((p): p is { at: number; v: number } => p.v !== undefined)
      .slice(-n);
    if (pts.length < n) return false;
    if (!pts.every((p, i) => i === 0 || p.v > pts[i - 1].v)) return false;
    const minutes = (pts[n - 1].at - pts[0].at) / 60_000;
    return minutes > 0 && (pts[n - 1].v - pts[0].v) / minutes >= c.rising.perMinute;
  }
  const v = num(valueAt(sample, c.path));
  if (c.op === 'known') return v !== undefined;
  if (v === undefined) return false;
  switch (c.op) {
    case '<':
      return v < c.value;
    case '<=':
      return v <= c.value;
    case '>':
      return v > c.value;
    case '>=':
      return v >= c.value;
  }
}
