/**
 * Measured conditions for the metric-driven runbooks (P0-2, P1-1, P1-2, P1-3): how long a condition
 * has held (in workflow time, so the time-skipping server can prove the policy's windows), the
 * "growing rapidly" slope over successive samples, and the verification loop they share.
 *
 * The loop does not sample in the workflow any more: one `watchSamples` activity (activities/
 * watch.ts) samples at the policy's interval, backing off while nothing changes, and returns only
 * when something the runbook must react to happens: a condition the runbook declares (the verdict,
 * a threshold a rule watches) changes, the measurement starts or stops failing, or a deadline the
 * loop passes is reached (the window would complete, a "remains above" rule would fire, the
 * unmeasured escalation is due, or the 10-minute cap that keeps the state fresh). Each sample is an
 * attempt of that activity and activity retries add no history events, so a 2.5-hour incident is a
 * few dozen events instead of a thousand, while every rule still fires on time. (Why attempts
 * rather than one sleeping attempt, and not continueAsNew: see activities/watch.ts. continueAsNew
 * would have to carry the escalation and MTTR timers, approvals and step records of a running
 * incident across runs; the watch keeps the runbook one readable function.)

 */
import { ActivityCancellationType, CancellationScope, condition } from '@temporalio/workflow';
import { watches } from './activity-proxies';
import { elapsed } from './durations';
import { Incident, failureText } from './incident';
import type { WatchInput, WatchProbe, WatchResult } from '../activities/watch';
import type { MetricSample } from '../activities/prometheus';
import type { TimedSample, WatchCondition, WatchSample } from '../definitions/watch';

/** Since when a condition has held continuously (workflow time). */
export class Streak {
  since?: number;

  update(holds: boolean, at = Date.now()): void {
    if (!holds) this.since = undefined;
    else this.since ??= at;
  }

  heldFor(at = Date.now()): number {
    return this.since === undefined ? 0 : at - this.since;
  }

  /** Milliseconds until it will have held for `ms` (0 if it already has; undefined if not holding). */
  remaining(ms: number, at = Date.now()): number | undefined {
    return this.since === undefined ? undefined : Math.max(0, ms - this.heldFor(at));
  }

  get holding(): boolean {
    return this.since !== undefined;
  }

  get sinceIso(): string | undefined {
    return this.since === undefined ? undefined : new Date(this.since).toISOString();
  }
}

export interface Sample {
  at: number;
  value: number;
}

/**
 * "Growing rapidly": the last `samples` samples each higher than the one before, and the slope from
 * the first to the last of them at least `perMinute`. Returns the slope whenever it can be computed.
 */
export function growth(
  history: Sample[],
  samples: number,
  perMinute: number,
): { rapid: boolean; slopePerMinute: number | null; rising: boolean } {
  const n = Math.max(2, samples);
  if (history.length < n) return { rapid: false, slopePerMinute: null, rising: false };
  const last = history.slice(-n);
  const rising = last.every((s, i) => i === 0 || s.value > last[i - 1].value);
  const minutes = (last[n - 1].at - last[0].at) / 60_000;
  const slopePerMinute = minutes > 0 ? (last[n - 1].value - last[0].value) / minutes : null;
  return { rapid: rising && slopePerMinute !== null && slopePerMinute >= perMinute, slopePerMinute, rising };
}

/**
 * Runs a read-only measurement as part of a loop, without a step record per sample: a failure goes
 * to `state.failing[name]` (a check that cannot run) and gives `undefined`; success clears it.
 */
export async function measure<T>(inc: Incident, name: string, fn: () => Promise<T>): Promise<T | undefined> {
  try {
    const r = await fn();
    if (name in inc.state.failing) {
      delete inc.state.failing[name];
      inc.refresh();
    }
    return r;
  } catch (err) {
    inc.state.failing[name] = failureText(err);
    inc.refresh();
    return undefined;
  }
}

export interface SampleVerdict {
  /** The verification condition holds in this sample. */
  ok: boolean;
  /** Sample again no later than this (a runbook rule's deadline). */
  nextWithinMs?: number;
}

export interface VerifyLoop<T> {
  /** Key in `state.failing` while the measurement cannot be taken. */
  name: string;
  /** What the wait shows in the UI, e.g. "Verify: pool < 70% for 5 minutes". */
  summary: string;
  /** What the watch samples and reacts to (see `WatchSpec`). */
  watch: WatchSpec<T>;
  /**
   * The runbook's reaction to one sample: record, escalate, act; and whether the condition holds.
   * `recent` (oldest first, ending with this sample) comes with watched samples.
   */
  judge: (sample: T, recent?: TimedSample[]) => Promise<SampleVerdict>;
  resolveWindowMs: number;
  sampleIntervalMs: number;
  maxSampleIntervalMs: number;
  /**
   * A dry run after a planned action (dry-run.ts): the loop is not sampled; the runbook judges this
   * one sample, which meets `condition` (what it would see once the fix worked), and resolves.
   */
  assumed: { condition: string; sample: () => T };
  /** Escalate (once) when the measurement has not been possible for this long. */
  unmeasured?: { afterMs: number; tier: string; what: string };
}

/**
 * What the verification watch samples and when it must come back to the workflow. Functions are
 * called before each watch, so the conditions follow the runbook's state (a rule that has paged
 * drops out, a paused queue changes what "ok" means).
 */
export interface WatchSpec<T> {
  /** For the UI while watching, e.g. "pool of accubooks-api". */
  what: string;
  /** Sampled together, in order; the first one is the measurement (its failure: unmeasured). */
  probes: () => Record<string, WatchProbe>;
  /** The runbook's view of one watched sample (what `judge` receives). */
  pick: (s: WatchSample) => T;
  /** Named conditions; when any changes from the last judged sample, the workflow judges again. */
  react: () => Record<string, WatchCondition>;
  /** The workflow judges every sample on which this holds (an action that may be repeated). */
  returnWhen?: () => WatchCondition | undefined;
  /** Sample at the base interval while this holds (e.g. a trend the slope rule follows). */
  steadyWhen?: () => WatchCondition | undefined;
  /** Samples kept for `rising` conditions and handed to `judge` (default 1). */
  keep?: number;
}

/** The longest a watch runs before the workflow refreshes its state with a sample. */
export const WATCH_CAP_MS = 10 * 60_000;

export type LoopEnd<T> =
  { end: 'resolved'; last: T; heldMs: number } | { end: 'closed-by-human' } | { end: 'gave-up' };

/** Samples until the condition has held for the window, a person closes the incident, or it gives up. */

/** Runs one watch; a person closing the incident cancels it. 'closed' when that happened first. */
async function watchOnce(
  inc: Incident,
  summary: string,
  input: WatchInput,
): Promise<WatchResult | { failed: string } | 'closed'> {
  const scope = new CancellationScope();
  const watch = scope.run(() =>
    watches.watchSamples.executeWithOptions(
      {
        summary,
        scheduleToCloseTimeout: input.deadlineMs + WATCH_CAP_MS,
        // The watch only reads and spends most of its life in a retry backoff: no cancel request
        // is sent; the server drops it when the incident closes moments later. (A cancel request
        // for an activity in backoff wedges the time-skipping test server: sdk-java #2391.)
        cancellationType: ActivityCancellationType.ABANDON,
      },
      [input],
    ),
  );
  const closed = scope.run(() => condition(() => inc.closedByHuman));
  const first = await Promise.race([
    watch.then(
      (r) => r,
      (err: unknown) => ({ failed: failureText(err) }),
    ),
    closed.then(
      () => 'closed' as const,
      () => new Promise<never>(() => undefined),
    ),
  ]);
  // Cancels whichever is still pending: the watch (a person closed the incident) or the wait.
  scope.cancel();
  return first;
}

/** The verification loop on the watch activity (see the file header). */
export async function verifyLoop<T>(inc: Incident, loop: VerifyLoop<T>): Promise<LoopEnd<T>> {
  if (inc.rehearsal?.assumeVerified(inc.state, loop.summary, loop.assumed.condition))
    return assumedEnd(inc, loop);
  const ok = new Streak();
  const blind = new Streak();
  const spec = loop.watch;
  let blindEscalated = false;
  let delay = loop.sampleIntervalMs;
  let last: WatchInput['last'];
  let recent: TimedSample[] = [];
  let nextWithinMs: number | undefined;
  for (;;) {
    if (inc.closedByHuman) return { end: 'closed-by-human' };
    if (inc.pastGiveUp) return { end: 'gave-up' };

    const deadlines = [
      WATCH_CAP_MS,
      ok.remaining(loop.resolveWindowMs),
      nextWithinMs,
      loop.unmeasured && !blindEscalated ? blind.remaining(loop.unmeasured.afterMs) : undefined,
    ].filter((d): d is number => d !== undefined);
    const returnWhen = spec.returnWhen?.();
    const steadyWhen = spec.steadyWhen?.();
    const r = await watchOnce(inc, loop.summary, {
      what: spec.what,
      probes: spec.probes(),
      react: spec.react(),
      ...(returnWhen ? { returnWhen } : {}),
      ...(steadyWhen ? { steadyWhen } : {}),
      last,
      now: Date.now(),
      recent,
      keep: spec.keep ?? 1,
      deadlineMs: Math.max(1, Math.min(...deadlines)),
      intervalMs: loop.sampleIntervalMs,
      startDelayMs: delay,
      maxIntervalMs: loop.maxSampleIntervalMs,
    });
    if (r === 'closed') return { end: 'closed-by-human' };

    const error = 'failed' in r ? r.failed : r.error;
    if (error !== undefined || !('sample' in r) || r.sample === undefined) {
      // A sample that cannot be taken proves nothing: the window starts again with the next good one.
      inc.state.failing[loop.name] = error ?? 'no sample';
      blind.update(true);
      ok.update(false);
      last = { error: inc.state.failing[loop.name] };
      nextWithinMs = undefined;
      if (!('failed' in r)) delay = r.delayMs;
    } else {
      if (loop.name in inc.state.failing) delete inc.state.failing[loop.name];
      blind.update(false);
      recent = r.recent;
      const verdict = await loop.judge(spec.pick(r.sample), recent);
      ok.update(verdict.ok);
      if (verdict.ok && ok.heldFor() >= loop.resolveWindowMs) {
        return { end: 'resolved', last: spec.pick(r.sample), heldMs: ok.heldFor() };
      }
      last = { sample: r.sample };
      nextWithinMs = verdict.nextWithinMs;
      // A change starts the sampling over at the base interval; otherwise the backoff goes on.
      delay = r.reason === 'deadline' ? r.delayMs : loop.sampleIntervalMs;
    }
    inc.state.checks.verification = {
      condition: loop.summary,
      holdingSince: ok.sinceIso ?? null,
      unmeasuredSince: blind.sinceIso ?? null,
    };
    inc.refresh();

    if (loop.unmeasured && !blindEscalated && blind.heldFor() >= loop.unmeasured.afterMs) {
      blindEscalated = true;
      await inc.escalate(
        `${loop.unmeasured.what} could not be measured for ${elapsed(blind.heldFor())}: ${inc.state.failing[loop.name] ?? 'unknown error'}`,
        loop.unmeasured.tier,
      );
    }
  }
}

/**
 * The dry run's verification: the runbook's reaction to the assumed sample (a P1-3 resumes its
 * jobs there: planned like any action), then resolved, as the real run is once the window held.
 */
async function assumedEnd<T>(inc: Incident, loop: VerifyLoop<T>): Promise<LoopEnd<T>> {
  const sample = loop.assumed.sample();
  const verdict = await loop.judge(sample);
  if (verdict.ok) return { end: 'resolved', last: sample, heldMs: loop.resolveWindowMs };
  // The runbook would not resolve even on the sample its success condition describes (an action it
  // takes there was refused): what it does next cannot be assumed.
  return inc.endPlan(
    `"${loop.summary}" assumed (${loop.assumed.condition}), but the runbook would not resolve on it: ${Object.entries(
      inc.state.failing,
    )
      .map(([k, v]) => `${k}: ${v}`)
      .join('; ')}`,
  );
}

/** A metric sample a dry run assumes (never queried): `value` meets the loop's success condition. */
export const assumedMetric = (name: string, value = 0): MetricSample => ({
  name,
  query: '(dry run: assumed, not queried)',
  value,
  series: 1,
  at: new Date().toISOString(),
});

export const pct = (v: number | null | undefined) =>
  v === null || v === undefined ? 'n/a' : `${(v * 100).toFixed(1)}%`;

export const secs = (v: number | null | undefined) =>
  v === null || v === undefined ? 'n/a' : `${v.toFixed(2)} s`;

export { minutes } from './durations';
