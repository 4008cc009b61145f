/**
 * 1. Alert → first action, side by side with the floor: an Alertmanager notification posted to the
 * intake until the runbook's first activity starts, against a bare client start of the floor
 * workflow (bench/floor-workflow.ts) on the same server and worker.
 */
import { randomUUID } from 'node:crypto';
import { startDevRig } from './dev-rig';
import { amAlert, amGroup } from './alertmanager';
import { startTiming, type StartTiming } from './first-action-timing';
import { firstActivityStartedMs, historyOf } from './measure';
import { ms, sp, type Collected, type Log } from './report';
import type { BenchSizes } from './sizes';
import { percentile, spread } from './stats';

export interface FirstActionResult {
  alert: number[];
  floor: number[];
  /** Where each measured sample's time went (bench/first-action-timing.ts). */
  alertHops: StartTiming[];
  floorHops: StartTiming[];
}

export async function alertToFirstAction(sizes: BenchSizes): Promise<FirstActionResult> {
  const rig = await startDevRig('first-action', sizes);
  const run = randomUUID().slice(0, 8);
  const out: FirstActionResult = { alert: [], floor: [], alertHops: [], floorHops: [] };
  try {
    for (let i = 0; i < sizes.warmup + sizes.firstActionRuns; i++) {
      const hops: StartTiming[] = [];
      // Side by side, alternating which goes first, so drift on the shared machine hits both.
      const pair = [
        async () => {
          const target = `fa-${run}-${i}`;
          const t0 = Date.now();
          const r = await rig.post(amGroup([amAlert('SystemUnreachable', target, 1, 'firing')]));
          const wf = r.json.results?.[0];
          if (r.status !== 200 || !['started', 'queued'].includes(wf?.outcome ?? '') || !wf?.workflowId)
            throw new Error(`intake did not start an incident: ${r.status} ${JSON.stringify(r.json)}`);
          const handle = rig.client.workflow.getHandle(wf.workflowId);
          const at = await firstActivityStartedMs(handle);
          hops[0] = startTiming(await historyOf(handle), t0);
          await handle.terminate('measured').catch(() => undefined);
          return at - t0;
        },
        async () => {
          const t0 = Date.now();
          const handle = await rig.client.workflow.start('floorWorkflow', {
            taskQueue: rig.taskQueue,
            workflowId: `floor-${run}-${i}`,
          });
          await handle.result();
          hops[1] = startTiming(await historyOf(handle), t0);
          return (await firstActivityStartedMs(handle)) - t0;
        },
      ];
      const order = i % 2 === 0 ? [0, 1] : [1, 0];
      const ms: number[] = [];
      for (const k of order) ms[k] = await pair[k]();
      if (i >= sizes.warmup) {
        out.alert.push(ms[0]);
        out.floor.push(ms[1]);
        out.alertHops.push(hops[0]);
        out.floorHops.push(hops[1]);
      }
    }
  } finally {
    await rig.close();
  }
  return out;
}

/** Benchmark 1 and its figures: the floor, and the alert's p50 (as a ratio to the floor) and p99. */
export async function firstActionBenchmark(sizes: BenchSizes, log: Log, out: Collected): Promise<void> {
  log('1. alert → first action, side by side with the floor');
  const fa = await alertToFirstAction(sizes);
  out.raw.firstAction = fa;
  const aP50 = percentile(fa.alert, 50);
  const fP50 = percentile(fa.floor, 50);
  const aP99 = percentile(fa.alert, 99);
  out.figures.push(
    {
      id: 'floor',
      figure: 'Floor: bare client start → first activity started (same server, same worker)',
      target: '(reference)',
      measured: `p50 ${sp(spread(fa.floor))}, p99 ${ms(percentile(fa.floor, 99))}`,
      pass: null,
      data: { p50: fP50, p99: percentile(fa.floor, 99), samples: fa.floor },
    },
    {
      id: 'alert-first-action-p50',
      figure: 'Alert → first activity started, p50 (ratio to floor, same run)',
      target: '≤ 1.2 × floor',
      measured: `p50 ${sp(spread(fa.alert))} = ${(aP50 / fP50).toFixed(2)} × floor`,
      pass: aP50 <= 1.2 * fP50,
      data: { p50: aP50, ratio: aP50 / fP50, samples: fa.alert },
    },
    {
      id: 'alert-first-action-p99',
      figure: 'Alert → first activity started, p99',
      target: '≤ 300 ms',
      measured: ms(aP99),
      pass: aP99 <= 300,
      data: { p99: aP99 },
    },
    {
      id: 'first-action-hops',
      figure: 'Where it goes, p50 alert | floor: to started, task queued, tasks run (n), dispatch',
      target: '(information)',
      measured: hopsLine(fa.alertHops, fa.floorHops),
      pass: null,
      data: { alert: fa.alertHops, floor: fa.floorHops },
    },
  );
}

/** The p50 of each hop, the alert's beside the floor's. */
function hopsLine(alert: StartTiming[], floor: StartTiming[]): string {
  const p50 = (xs: StartTiming[], k: keyof StartTiming) =>
    percentile(
      xs.map((x) => x[k]),
      50,
    );
  const hop = (k: keyof StartTiming) =>
    k === 'tasks' ? `${p50(alert, k)} | ${p50(floor, k)}` : `${ms(p50(alert, k))} | ${ms(p50(floor, k))}`;
  return (['toStartedMs', 'taskQueuedMs', 'tasksRunMs', 'tasks', 'dispatchMs'] as const).map(hop).join(', ');
}
