/**
 * Measurement helpers the benchmarks share: bounded waits, a pool of concurrent calls, a process's
 * resident memory, and when a workflow's first activity started (from its history).
 */
import { readFileSync } from 'node:fs';
import type { WorkflowHandle } from '@temporalio/client';

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const MB = 1024 * 1024;

/** `p`, or `fallback` after `ms`; the timer is cleared either way, and a late rejection of `p` is ignored. */
export async function within<T>(p: Promise<T>, ms: number, fallback: T): Promise<T> {
  p.catch(() => undefined);
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<T>((r) => (timer = setTimeout(() => r(fallback), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}
const rssMb = () => process.memoryUsage().rss / MB;

export interface HistoryEvent {
  eventTime?: { seconds?: unknown; nanos?: number | null } | null;
  activityTaskStartedEventAttributes?: unknown;
  workflowExecutionSignaledEventAttributes?: unknown;
  workflowTaskScheduledEventAttributes?: unknown;
  workflowTaskStartedEventAttributes?: unknown;
  workflowTaskCompletedEventAttributes?: unknown;
  workflowExecutionStartedEventAttributes?: unknown;
}

export const eventMs = (e: HistoryEvent): number =>
  Number(e.eventTime?.seconds ?? 0) * 1000 + (e.eventTime?.nanos ?? 0) / 1e6;

export async function historyOf(handle: WorkflowHandle): Promise<HistoryEvent[]> {
  const h = await handle.fetchHistory();
  return h.events ?? [];
}

/** Time of the first activity started in the history, waiting for it up to `timeoutMs`. */
export async function firstActivityStartedMs(handle: WorkflowHandle, timeoutMs = 30_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ev = (await historyOf(handle).catch(() => [] as HistoryEvent[])).find(
      (e) => e.activityTaskStartedEventAttributes,
    );
    if (ev) return eventMs(ev);
    if (Date.now() > deadline)
      throw new Error(`${handle.workflowId}: no activity started within ${timeoutMs} ms`);
    await sleep(20);
  }
}

/** Runs `fn` over `items` with at most `concurrency` in flight. */
export async function pool<T, R>(
  items: T[],
  concurrency: number,
  fn: (item: T, i: number) => Promise<R>,
): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, items.length) }, async () => {
      for (;;) {
        const i = next++;
        if (i >= items.length) return;
        out[i] = await fn(items[i], i);
      }
    }),
  );
  return out;
}

/** Peak RSS of a process (this one by default) while it runs, sampled every 100 ms. */
export function rssSampler(pid = process.pid): { stop(): number } {
  const now = () => (pid === process.pid ? rssMb() : rssOfPid(pid));
  let peak = now();
  const t = setInterval(() => (peak = Math.max(peak, now())), 100);
  return {
    stop() {
      clearInterval(t);
      return Math.max(peak, now());
    },
  };
}

/** A process's resident memory now, from /proc (Linux), in MB. */
function rssOfPid(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : NaN;
  } catch {
    return NaN;
  }
}
