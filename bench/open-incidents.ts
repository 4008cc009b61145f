/**
 * 3 (and 5, its growth). Many open incidents waiting for approval (the light gate of
 * bench/floor-workflow.ts: one signal, then one activity): the worker's memory while they wait, and
 * what an approval costs while all the others stay open.
 */
import { randomUUID } from 'node:crypto';
import type { WorkflowHandle } from '@temporalio/client';
import { startDevRig } from './dev-rig';
import { benchApproveSignal } from './floor-workflow';
import { eventMs, historyOf, pool, sleep } from './measure';
import { ms, type Collected, type Figure, type Invariants, type Log } from './report';
import type { BenchSizes } from './sizes';
import { percentile } from './stats';

export interface OpenResult {
  open: number;
  openMs: number;
  baselineRssMb: number;
  rssMb: number;
  cachedWorkflows: number;
  /** One at a time, the others still open. */
  approvalMs: number[];
  /** The rest all at once (16 in flight). */
  burstMs: number[];
  invariant: Invariants['open'][number];
}

export async function openIncidents(sizes: BenchSizes, n: number): Promise<OpenResult> {
  const rig = await startDevRig('open', sizes);
  const run = randomUUID().slice(0, 8);
  try {
    const baselineRssMb = (await rig.worker.status()).rssMb;
    const t0 = performance.now();
    const handles = await pool(
      Array.from({ length: n }, (_, i) => i),
      32,
      (i) =>
        rig.client.workflow.start('gateWorkflow', {
          taskQueue: rig.taskQueue,
          workflowId: `gate-${run}-${i}`,
        }),
    );
    // Open = the first workflow task done: the worker holds the run and waits for the signal.
    const waiting = new Set(handles);
    const deadline = Date.now() + 120_000 + n * 100;
    while (waiting.size && Date.now() < deadline) {
      await pool([...waiting], 16, async (h) => {
        const d = await h.describe();
        if (d.historyLength >= 4) waiting.delete(h);
      });
      if (waiting.size) await sleep(100);
    }
    const openMs = performance.now() - t0;
    const { rssMb: rss, cachedWorkflows } = await rig.worker.status();
    // Approvals as people send them: one at a time, while all the others stay open (the figure: what
    // many open incidents cost one approval). The first half goes so; the rest all at once, as a
    // burst (information: the dev server's single SQLite writer queues them).
    const sentAt = new Map<string, number>();
    const resumedAt = async (h: WorkflowHandle) => {
      const ev = (await historyOf(h)).find((e) => e.activityTaskStartedEventAttributes);
      return ev ? eventMs(ev) - sentAt.get(h.workflowId)! : NaN;
    };
    const oneByOne = handles.slice(0, Math.ceil(handles.length / 2));
    const burst = handles.slice(oneByOne.length);
    const approvalMs: number[] = [];
    for (const h of oneByOne) {
      sentAt.set(h.workflowId, Date.now());
      await h.signal(benchApproveSignal, { by: 'bench-approver' });
      await h.result();
      approvalMs.push(await resumedAt(h));
    }
    await pool(burst, 16, async (h) => {
      sentAt.set(h.workflowId, Date.now());
      await h.signal(benchApproveSignal, { by: 'bench-approver' });
    });
    await pool(burst, 16, (h) => h.result());
    const burstMs = await pool(burst, 16, resumedAt);
    const resumed = [...approvalMs, ...burstMs].filter((x) => !Number.isNaN(x)).length;
    return {
      open: n,
      openMs,
      baselineRssMb,
      rssMb: rss,
      cachedWorkflows,
      approvalMs,
      burstMs,
      invariant: { size: n, opened: n - waiting.size, resumed, ok: waiting.size === 0 && resumed === n },
    };
  } finally {
    await rig.close();
  }
}

/** 3 and 5 (open sizes): each growth size, then the full size, whose figures these are. */
export async function openBenchmark(sizes: BenchSizes, log: Log, out: Collected): Promise<void> {
  let main: OpenResult | undefined;
  for (const size of [
    ...new Set([...sizes.growthOpen.filter((s) => s < sizes.openIncidents), sizes.openIncidents]),
  ]) {
    log(`3/5. ${size} open incidents waiting for approval`);
    const r = await openIncidents(sizes, size);
    out.invariants.open.push(r.invariant);
    out.growth.open.push({
      open: size,
      openWallMs: Math.round(r.openMs),
      rssMb: Math.round(r.rssMb),
      rssGrowthMb: Math.round(r.rssMb - r.baselineRssMb),
      cachedWorkflows: r.cachedWorkflows,
      approvalP50Ms: Math.round(percentile(r.approvalMs, 50)),
      approvalP99Ms: Math.round(percentile(r.approvalMs, 99)),
      ok: r.invariant.ok,
    });
    if (size === sizes.openIncidents) main = r;
  }
  out.raw.open = main ? { ...main, approvalMs: undefined, burstMs: undefined } : undefined;
  if (main) out.figures.push(...openFigures(sizes, main));
}

function openFigures(sizes: BenchSizes, main: OpenResult): Figure[] {
  const p99 = percentile(main.approvalMs, 99);
  return [
    {
      id: 'open-rss',
      figure: `${main.open} open incidents waiting for approval: worker process RSS (cache ${sizes.maxCachedWorkflows})`,
      target: '≤ 512 MB',
      measured: `${Math.round(main.rssMb)} MB (+${Math.round(main.rssMb - main.baselineRssMb)} MB for the open runs, ${main.cachedWorkflows} cached)`,
      pass: main.rssMb <= 512 && main.invariant.ok,
      data: {
        rssMb: main.rssMb,
        baselineRssMb: main.baselineRssMb,
        cachedWorkflows: main.cachedWorkflows,
      },
    },
    {
      id: 'open-approval-p99',
      figure: `${main.open} open: approval signal → workflow resumed (activity started), p99`,
      target: '≤ 500 ms',
      measured: `p99 ${ms(p99)} (p50 ${ms(percentile(main.approvalMs, 50))}, n=${main.approvalMs.length}, one at a time), ${main.invariant.resumed}/${main.open} resumed`,
      pass: p99 <= 500 && main.invariant.ok,
      data: { p50: percentile(main.approvalMs, 50), p99 },
    },
    {
      id: 'open-approval-burst',
      figure: `${main.open} open: the other ${main.burstMs.length} approvals all at once (16 in flight), → resumed`,
      target: '(information)',
      measured: `p50 ${ms(percentile(main.burstMs, 50))}, p99 ${ms(percentile(main.burstMs, 99))}`,
      pass: null,
      data: { p50: percentile(main.burstMs, 50), p99: percentile(main.burstMs, 99) },
    },
  ];
}
