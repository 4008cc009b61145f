/**
 * "Watch until something changes": the sampling of the runbooks' verification loops (P0-2, P1-1,
 * P1-2, P1-3), moved out of the workflow so that a long verification costs a handful of history
 * events instead of one activity and one timer per sample.
 *
 * One call watches for up to `deadlineMs` (the workflow passes its next deadline: window end, a
 * rule's deadline, a cap). Each sample is one ATTEMPT of this activity: an attempt samples the
 * probes, and when nothing the workflow reacts to has changed it fails with a retryable `WATCHING`
 * failure whose `nextRetryDelay` is the next sample interval (backing off while nothing changes, as
 * the workflow loop did). The samples so far travel between attempts as heartbeat details. Activity
 * retries add no history events, so the workflow sees only the sample it must react to:
 *   - a named condition (declarative, from the workflow) whose truth value differs from the last
 *     sample the workflow judged: the verdict flips, a threshold a rule watches is crossed;
 *   - the measurement starts or stops failing (an unreachable dependency: while it stays down the
 *     attempts back off here, not on workflow timers);
 *   - the deadline is reached.
 *
 * (`returnWhen` is the level-triggered kind: the workflow judges every sample on which it holds.)
 *
 * Why attempts and not one long-running, sleeping, heartbeating attempt: the time-skipping test
 * server does not skip time while an activity is running, so a watch that sleeps would make every
 * escalation rule proven at its default duration (5 minutes, 1 and 2 hours) take that long in real
 * time. Between attempts nothing runs, so the server skips to the next sample. The elapsed time is
 * counted from the delays asked for plus the time the attempts took (a clock both servers share).
 */
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { describeError, FailureType, nonRetryable } from '../definitions/errors';
import { createPostgresActivities, type SessionScope } from './postgres';
import { createPrometheusActivities, type MetricQuery } from './prometheus';
import { holds, type TimedSample, type WatchCondition, type WatchSample } from '../definitions/watch';

export type WatchProbe = (
  | { kind: 'pool'; input: SessionScope & { target: string; timeoutMs: number } }
  | { kind: 'metric'; input: MetricQuery }
  | { kind: 'metrics'; input: { queries: MetricQuery[] } }
  | { kind: 'slowQueries'; input: SessionScope & { minDurationMs: number } }
) & {
  /** Sampled only when this holds on the probes sampled before it; its failure is not an error state. */
  onlyWhen?: WatchCondition;
};

export interface WatchInput {
  /** For the failure text the UI shows while watching, e.g. "pool of accubooks-api". */
  what: string;
  /** Sampled in order, each time. The first is the measurement: its failure is the error state. */
  probes: Record<string, WatchProbe>;
  /** The conditions the workflow reacts to; a change in any of them ends the watch. */
  react: Record<string, WatchCondition>;
  /** The workflow judges every sample on which this holds (an action it may repeat, e.g. scale again). */
  returnWhen?: WatchCondition;
  /** Sample at the base interval (no backoff) while this holds (e.g. a trend is being followed). */
  steadyWhen?: WatchCondition;
  /** What the workflow judged last: a sample, an error, or nothing yet (then the first sample returns). */
  last?: { sample: WatchSample } | { error: string };
  /** Workflow time at the call: the samples' `at` are counted from it. */
  now: number;
  /** Recent samples (oldest first) for `rising`; returned with the new ones, at most `keep`. */
  recent?: TimedSample[];
  keep?: number;
  /** Return after this long at the latest. */
  deadlineMs: number;
  /** The first delay between samples; doubles while nothing changes, up to `maxIntervalMs`. */
  intervalMs: number;
  startDelayMs?: number;
  maxIntervalMs: number;
}

export type WatchResult = {
  /** Why the watch ended. */
  reason: 'changed' | 'error' | 'recovered' | 'deadline';
  /** Conditions whose value changed (for `changed`). */
  changed: string[];
  at: number;
  /** Samples taken in this watch. */
  samples: number;
  /** Delay the next watch should start from (the backoff so far). */
  delayMs: number;
  recent: TimedSample[];
} & ({ sample: WatchSample; error?: undefined } | { sample?: undefined; error: string });

interface Progress {
  elapsedMs: number;
  delayMs: number;
  samples: number;
  recent: TimedSample[];
  lastError?: string;
}

function verdicts(react: Record<string, WatchCondition>, sample: WatchSample, recent: TimedSample[]) {
  return Object.fromEntries(Object.entries(react).map(([k, c]) => [k, holds(c, sample, recent)]));
}

export interface WatchDeps {
  pg: import('pg').Pool;
  apiUrls: Record<string, string>;
  prometheusUrl?: string;
  /** The application's database roles (ACCUBOOKS_DB_ROLES). */
  appRoles: readonly string[];
}

/** What the probes call: the same activities the runbooks call one by one. */
interface Probers {
  pg: ReturnType<typeof createPostgresActivities>;
  prom: ReturnType<typeof createPrometheusActivities>;
}

async function probe({ pg, prom }: Probers, p: WatchProbe): Promise<unknown> {
  switch (p.kind) {
    case 'pool':
      return pg.checkPool(p.input);
    case 'slowQueries':
      return pg.listSlowQueries(p.input);
    case 'metric':
      return prom.queryMetric(p.input);
    case 'metrics':
      return prom.queryMetrics(p.input);
  }
}

/** One sample of every probe; the first probe's failure is the error state. */
async function takeSample(
  probers: Probers,
  probes: Record<string, WatchProbe>,
): Promise<{ sample: WatchSample } | { error: string }> {
  const sample: WatchSample = {};
  let first = true;
  for (const [name, p] of Object.entries(probes)) {
    const primary = first;
    first = false;
    if (p.onlyWhen && !holds(p.onlyWhen, sample)) continue;
    try {
      sample[name] = await probe(probers, p);
    } catch (err) {
      const text =
        err instanceof ApplicationFailure ? `${err.type ?? 'error'}: ${err.message}` : describeError(err);
      if (primary) return { error: text };
      sample[`${name}Error`] = text;
    }
  }
  return { sample };
}

/** One attempt of a watch: its input, the progress of the attempts before it, and its own sample's time. */
interface Attempt {
  input: WatchInput;
  prev: Progress;
  at: number;
  samples: number;
  elapsedMs: number;
}

const done = (
  a: Attempt,
  r: Omit<WatchResult, 'at' | 'samples' | 'delayMs' | 'recent'>,
  recent: TimedSample[],
) => ({ ...r, at: a.at, samples: a.samples, delayMs: a.prev.delayMs, recent }) as WatchResult;

/** The measurement failed: the workflow hears of it once, then the attempts back off here. */
function afterError(a: Attempt, error: string): WatchResult {
  const { input, prev, elapsedMs } = a;
  if (!input.last || !('error' in input.last)) {
    return done(a, { reason: 'error', changed: [], error }, prev.recent);
  }
  if (elapsedMs >= input.deadlineMs) {
    return done(a, { reason: 'deadline', changed: [], error }, prev.recent);
  }
  // Still down: back off here (retries add no history), never faster than the base interval.
  const delayMs = Math.min(prev.delayMs * 2, input.maxIntervalMs, input.deadlineMs - elapsedMs);
  throw again(
    { elapsedMs: elapsedMs + delayMs, delayMs, samples: a.samples, recent: prev.recent },
    delayMs,
    `${input.what} cannot be measured: ${error}`,
  );
}

/** A sample: returned when something the workflow reacts to changed, else sampled again later. */
function afterSample(a: Attempt, sample: WatchSample): WatchResult {
  const { input, prev, at, elapsedMs } = a;
  // A new watch samples at once; a sample moments after the one the workflow just judged would
  // repeat it (and break "each higher than the one before"): it replaces that one instead.
  const last = prev.recent[prev.recent.length - 1];
  const kept = last && at - last.at < input.intervalMs / 2 ? prev.recent.slice(0, -1) : prev.recent;
  const recent = [...kept, { at, sample }].slice(-Math.max(1, input.keep ?? 1));
  if (!input.last) return done(a, { reason: 'changed', changed: Object.keys(input.react), sample }, recent);
  if ('error' in input.last) return done(a, { reason: 'recovered', changed: [], sample }, recent);
  const before = verdicts(input.react, input.last.sample, prev.recent);
  const now = verdicts(input.react, sample, recent);
  const changed = Object.keys(now).filter((k) => now[k] !== before[k]);
  if (input.returnWhen && holds(input.returnWhen, sample, recent)) changed.push('returnWhen');
  if (changed.length) return done(a, { reason: 'changed', changed, sample }, recent);
  if (elapsedMs >= input.deadlineMs) return done(a, { reason: 'deadline', changed: [], sample }, recent);

  const steady = input.steadyWhen ? holds(input.steadyWhen, sample, recent) : false;
  const next = steady ? input.intervalMs : Math.min(prev.delayMs * 2, input.maxIntervalMs);
  const delayMs = Math.max(1, Math.min(next, input.deadlineMs - elapsedMs));
  const state = Object.entries(now)
    .map(([k, v]) => `${k}=${v}`)
    .join(', ');
  throw again(
    { elapsedMs: elapsedMs + delayMs, delayMs: next, samples: a.samples, recent },
    delayMs,
    `${input.what}: unchanged (${state}); sample ${a.samples}, next in ${Math.round(delayMs / 1000)} s`,
  );
}

export const createWatchActivities = (deps: WatchDeps) => {
  const probers: Probers = {
    pg: createPostgresActivities({ pg: deps.pg, apiUrls: deps.apiUrls, appRoles: deps.appRoles }),
    prom: createPrometheusActivities({ prometheusUrl: deps.prometheusUrl }),
  };

  return {
    /** Samples until something the workflow reacts to changes, or the deadline (see the file header). */
    async watchSamples(input: WatchInput): Promise<WatchResult> {
      if (!input.probes || Object.keys(input.probes).length === 0) {
        throw nonRetryable(FailureType.InvalidInput, 'watchSamples needs at least one probe');
      }
      const ctx = Context.current();
      const startedAt = Date.now();
      const prev = (ctx.info.heartbeatDetails as Progress | undefined) ?? {
        elapsedMs: 0,
        delayMs: input.startDelayMs ?? input.intervalMs,
        samples: 0,
        recent: input.recent ?? [],
      };
      const at = input.now + prev.elapsedMs;
      const taken = await takeSample(probers, input.probes);
      const attempt: Attempt = {
        input,
        prev,
        at,
        samples: prev.samples + 1,
        // Time this attempt took counts too (the server's clock runs while an activity runs).
        elapsedMs: prev.elapsedMs + (Date.now() - startedAt),
      };
      return 'error' in taken ? afterError(attempt, taken.error) : afterSample(attempt, taken.sample);
    },
  };
};

/** The "sample again later" failure: progress kept as heartbeat details, the delay as nextRetryDelay. */
function again(progress: Progress, delayMs: number, message: string): ApplicationFailure {
  Context.current().heartbeat(progress);
  return ApplicationFailure.create({
    message,
    type: 'WATCHING',
    nonRetryable: false,
    nextRetryDelay: Math.max(1, Math.round(delayMs)),
  });
}
