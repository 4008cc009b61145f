/**
 * 3 (and 5, its growth). Many open incidents waiting for approval (the light gate of
 * bench/floor-workflow.ts: one signal, then one activity): the worker's memory while they wait, and
 * what an approval costs while all the others stay open.
 */
import { randomUUID } from 'node:crypto';
import type { WorkflowHandle } from '@temporalio/client';
import { startDevRig } from './dev-rig';
import { benchApproveSignal } from './floor-workflow';
import { loadWorkerMemory } from '../config/worker-memory';
import { resumeTiming } from './approval-timing';
import { historyOf, pool, sleep } from './measure';
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
  /** Of each, the workflow task's wait for the worker's poll (bench/approval-timing.ts). */
  burstQueuedMs: number[];
  invariant: Invariants['open'][number];
}

export async function openIncidents(
  sizes: BenchSizes,
  n: number,
  workerEnv: Record<string, string> = {},
): Promise<OpenResult> {
  const rig = await startDevRig('open', sizes, workerEnv);
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
    const timing = async (h: WorkflowHandle) => resumeTiming(await historyOf(h), sentAt.get(h.workflowId)!);
    const oneByOne = handles.slice(0, Math.ceil(handles.length / 2));
    const burst = handles.slice(oneByOne.length);
    const approvalMs: number[] = [];
    for (const h of oneByOne) {
      sentAt.set(h.workflowId, Date.now());
      await h.signal(benchApproveSignal, { by: 'bench-approver' });
      await h.result();
      approvalMs.push((await timing(h)).resumedMs);
    }
    await pool(burst, 16, async (h) => {
      sentAt.set(h.workflowId, Date.now());
      await h.signal(benchApproveSignal, { by: 'bench-approver' });
    });
    await pool(burst, 16, (h) => h.result());
    const burstTimes = await pool(burst, 16, timing);
    const burstMs = burstTimes.map((t) => t.resumedMs);
    const resumed = [...approvalMs, ...burstMs].filter((x) => !Number.isNaN(x)).length;
    return {
      open: n,
      openMs,
      baselineRssMb,
      rssMb: rss,
      cachedWorkflows,
      approvalMs,
      burstMs,
      burstQueuedMs: burstTimes.map((t) => t.queuedMs),
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
  out.raw.open = main
    ? { ...main, approvalMs: undefined, burstMs: undefined, burstQueuedMs: undefined }
    : undefined;
  if (!main) return;
  out.figures.push(...openFigures(sizes, main));
  // The same size again with Node's default young generation (WORKER_V8_SEMI_SPACE_MB=0), beside the
  // worker's default in the same run: what the setting saves and what it costs an approval.
  log(`3. ${sizes.openIncidents} open incidents again, WORKER_V8_SEMI_SPACE_MB=0 (Node's default)`);
  const nodeDefault = await openIncidents(sizes, sizes.openIncidents, { WORKER_V8_SEMI_SPACE_MB: '0' });
  out.invariants.open.push(nodeDefault.invariant);
  out.figures.push(youngGenerationFigure(main, nodeDefault));
}

/** The young-generation setting against Node's default, measured in the same run (information). */
function youngGenerationFigure(main: OpenResult, nodeDefault: OpenResult): Figure {
  const row = (r: OpenResult) =>
    `${Math.round(r.rssMb)} MB, one at a time p99 ${ms(percentile(r.approvalMs, 99))}, burst p99 ${ms(percentile(r.burstMs, 99))}`;
  return {
    id: 'open-young-generation',
    figure: `${main.open} open: worker RSS and approval p99, WORKER_V8_SEMI_SPACE_MB default (2) / 0 (Node's)`,
    target: '(information)',
    measured: `${row(main)} / ${row(nodeDefault)}`,
    pass: null,
    data: {
      rssMb: main.rssMb,
      nodeDefaultRssMb: nodeDefault.rssMb,
      approvalP99: percentile(main.approvalMs, 99),
      nodeDefaultApprovalP99: percentile(nodeDefault.approvalMs, 99),
      burstP99: percentile(main.burstMs, 99),
      nodeDefaultBurstP99: percentile(nodeDefault.burstMs, 99),
    },
  };
}

/** The worker's cache: WORKER_MAX_CACHED_WORKFLOWS when set (the worker process applies it), else the size's. */
const cacheSize = (sizes: BenchSizes) => loadWorkerMemory().maxCachedWorkflows ?? sizes.maxCachedWorkflows;

function openFigures(sizes: BenchSizes, main: OpenResult): Figure[] {
  const p99 = percentile(main.approvalMs, 99);
  return [
    {
      id: 'open-rss',
      figure: `${main.open} open incidents waiting for approval: worker process RSS (cache ${cacheSize(sizes)})`,
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
      measured: `p50 ${ms(percentile(main.burstMs, 50))}, p99 ${ms(percentile(main.burstMs, 99))}; of which its workflow task queued for the worker's poll p50 ${ms(percentile(main.burstQueuedMs, 50))}, p99 ${ms(percentile(main.burstQueuedMs, 99))}`,
      pass: null,
      data: {
        p50: percentile(main.burstMs, 50),
        p99: percentile(main.burstMs, 99),
        queuedP50: percentile(main.burstQueuedMs, 50),
        queuedP99: percentile(main.burstQueuedMs, 99),
      },
    },
  ];
}
