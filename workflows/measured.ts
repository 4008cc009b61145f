/**
 * Measured conditions for the metric-driven runbooks (P0-2, P1-1, P1-2, P1-3): how long a condition
 * has held (in workflow time, so the time-skipping server can prove the policy's windows), the
 * "growing rapidly" slope over successive samples, and the verification loop they share.
 *
 * The loop samples with one short activity per sample and waits on durable timers in between. The
 * wait backs off while nothing changes and is cut short exactly at the next deadline (a window that
 * would complete, a "remains above" rule that would fire), so history stays small and rules fire on
 * time.
 */
import { Incident, failureText } from './incident';

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
  /** Keep sampling at the base interval (e.g. a trend is being followed). */
  steady?: boolean;
  /** Sample again no later than this (a runbook rule's deadline). */
  nextWithinMs?: number;
}

export interface VerifyLoop<T> {
  /** Key in `state.failing` while the measurement cannot be taken. */
  name: string;
  /** What the wait shows in the UI, e.g. "Verify: pool < 70% for 5 minutes". */
  summary: string;
  sample: () => Promise<T>;
  /** The runbook's reaction to one sample: record, escalate, act; and whether the condition holds. */
  judge: (sample: T) => Promise<SampleVerdict>;
  resolveWindowMs: number;
  sampleIntervalMs: number;
  maxSampleIntervalMs: number;
  /** Escalate (once) when the measurement has not been possible for this long. */
  unmeasured?: { afterMs: number; tier: string; what: string };
}

export type LoopEnd<T> =
  { end: 'resolved'; last: T; heldMs: number } | { end: 'closed-by-human' } | { end: 'gave-up' };

/** Samples until the condition has held for the window, a person closes the incident, or it gives up. */
export async function verifyLoop<T>(inc: Incident, loop: VerifyLoop<T>): Promise<LoopEnd<T>> {
  const ok = new Streak();
  const blind = new Streak();
  let blindEscalated = false;
  let delay = loop.sampleIntervalMs;
  let lastOk: boolean | undefined;
  for (;;) {
    if (inc.closedByHuman) return { end: 'closed-by-human' };
    if (inc.pastGiveUp) return { end: 'gave-up' };

    const s = await measure(inc, loop.name, loop.sample);
    blind.update(s === undefined);
    let verdict: SampleVerdict = { ok: false };
    if (s !== undefined) {
      verdict = await loop.judge(s);
      ok.update(verdict.ok);
      if (verdict.ok && ok.heldFor() >= loop.resolveWindowMs) {
        return { end: 'resolved', last: s, heldMs: ok.heldFor() };
      }
    } else {
      // A sample that cannot be taken proves nothing: the window starts again with the next good one.
      ok.update(false);
    }
    inc.state.checks.verification = {
      condition: loop.summary,
      holdingSince: ok.sinceIso ?? null,
      unmeasuredSince: blind.sinceIso ?? null,
    };

    if (loop.unmeasured && !blindEscalated && blind.heldFor() >= loop.unmeasured.afterMs) {
      blindEscalated = true;
      await inc.escalate(
        `${loop.unmeasured.what} could not be measured for ${Math.round(blind.heldFor() / 60_000)} minutes: ${inc.state.failing[loop.name] ?? 'unknown error'}`,
        loop.unmeasured.tier,
      );
    }

    const changed = s !== undefined && verdict.ok !== lastOk;
    if (s !== undefined) lastOk = verdict.ok;
    delay = changed || verdict.steady ? loop.sampleIntervalMs : Math.min(delay * 2, loop.maxSampleIntervalMs);
    const deadlines = [
      delay,
      ok.remaining(loop.resolveWindowMs),
      verdict.nextWithinMs,
      loop.unmeasured && !blindEscalated ? blind.remaining(loop.unmeasured.afterMs) : undefined,
    ].filter((d): d is number => d !== undefined);
    await inc.waitFor(Math.max(1, Math.min(...deadlines)), loop.summary);
  }
}

export const pct = (v: number | null | undefined) =>
  v === null || v === undefined ? 'n/a' : `${(v * 100).toFixed(1)}%`;

export const secs = (v: number | null | undefined) =>
  v === null || v === undefined ? 'n/a' : `${v.toFixed(2)} s`;

export const minutes = (ms: number) =>
  ms % 60_000 === 0 ? `${ms / 60_000} minutes` : `${Math.round(ms / 1000)} seconds`;
