/**
 * Benchmark 2 as the suite runs it: the storm at each growth size (5), then at its full size
 * repeated for the median, closed loop and open loop at 1,000 alerts/s; its rows and figures.
 */
import { alertStorm, type StormResult } from './storm';
import { ms, sp, type Collected, type Figure, type Log } from './report';
import type { BenchSizes } from './sizes';
import { percentile, spread } from './stats';

/** The storm at its full size, `stormRepeats` times (for the median): closed loop, or open at a rate. */
async function repeatedStorm(
  sizes: BenchSizes,
  log: Log,
  out: Collected,
  ratePerSec?: number,
): Promise<StormResult[]> {
  const runs: StormResult[] = [];
  for (let k = 0; k < sizes.stormRepeats; k++) {
    const how = ratePerSec ? ` at ${ratePerSec.toLocaleString('en')} alerts/s (open loop,` : ' (';
    log(
      `2. storm: ${sizes.stormAlerts} alerts / ${sizes.stormIncidents} incidents${how} run ${k + 1}/${sizes.stormRepeats})`,
    );
    const r = await alertStorm(sizes, sizes.stormAlerts, sizes.stormIncidents, ratePerSec);
    out.invariants.storm.push(r.invariant);
    runs.push(r);
  }
  return runs;
}

/** 2 and 5 (storm sizes). The largest size is the storm itself, repeated for the median. */
export async function stormBenchmark(sizes: BenchSizes, log: Log, out: Collected): Promise<void> {
  const ratio = sizes.stormIncidents / sizes.stormAlerts;
  for (const size of sizes.growthAlerts.filter((s) => s < sizes.stormAlerts)) {
    const inc = Math.max(1, Math.round(size * ratio));
    log(`5. storm growth: ${size} alerts / ${inc} incidents`);
    const r = await alertStorm(sizes, size, inc);
    out.invariants.storm.push(r.invariant);
    out.growth.storm.push(stormRow(r));
  }
  const stormRuns = await repeatedStorm(sizes, log, out);
  out.growth.storm.push(stormRow(stormRuns[Math.floor(stormRuns.length / 2)]));
  // The latency target is at the throughput target: the same storm sent open-loop at 1,000 alerts/s.
  const pacedRuns = await repeatedStorm(sizes, log, out, 1000);
  out.raw.storm = [...stormRuns, ...pacedRuns].map((r) => ({
    ...r,
    requestMs: undefined,
    firstActionMs: undefined,
  }));
  out.figures.push(...stormFigures(sizes, stormRuns, pacedRuns));
}

function stormFigures(sizes: BenchSizes, stormRuns: StormResult[], pacedRuns: StormResult[]): Figure[] {
  const thr = spread(stormRuns.map((r) => r.alertsPerSec));
  const p99s = spread(stormRuns.map((r) => percentile(r.requestMs, 99)));
  const pacedP99 = spread(pacedRuns.map((r) => percentile(r.requestMs, 99)));
  const pacedP50 = spread(pacedRuns.map((r) => percentile(r.requestMs, 50)));
  const pacedOk = pacedRuns.every((r) => r.invariant.ok);
  const allOk = stormRuns.every((r) => r.invariant.ok) && pacedOk;
  return [
    {
      id: 'storm-correctness',
      figure: `Storm ${sizes.stormAlerts} alerts / ${sizes.stormIncidents} incidents: exactly M workflows, every alert in its incident's state`,
      target: `${sizes.stormIncidents} workflows, 0 lost, 0 started twice`,
      measured: stormRuns
        .map(
          (r) =>
            `${r.invariant.workflows} wf, ${r.invariant.alertsAccounted}/${r.alerts} accounted, ${r.invariant.lost} lost, ${r.invariant.startedTwice} twice`,
        )
        .join('; '),
      pass: allOk,
      data: { runs: stormRuns.map((r) => ({ ...r.invariant, problems: r.problems })) },
    },
    {
      id: 'storm-throughput',
      figure: 'Storm: intake throughput',
      target: '≥ 1,000 alerts/s',
      measured: sp(thr, 'alerts/s'),
      pass: thr.median >= 1000,
      data: thr as unknown as Record<string, unknown>,
    },
    {
      id: 'storm-intake-p99',
      figure:
        'Storm: intake request p99 at 1,000 alerts/s (open loop, one Alertmanager group notification per request)',
      target: '≤ 50 ms',
      measured: `${sp(pacedP99)} (p50 ${ms(pacedP50.median)}, ${pacedRuns[0].requests} requests per run, ${pacedRuns.map((r) => `${r.invariant.workflows} wf/${r.invariant.lost} lost`).join(', ')})`,
      pass: pacedP99.median <= 50 && pacedOk,
      data: { p99: pacedP99, p50: pacedP50 },
    },
    {
      id: 'storm-intake-p99-saturated',
      figure: `Storm: intake request p99 when saturated (closed loop, ${sizes.stormConcurrency} in flight: latency ≈ in flight ÷ throughput)`,
      target: '(information)',
      measured: sp(p99s),
      pass: null,
      data: p99s as unknown as Record<string, unknown>,
    },
    {
      id: 'storm-delivered',
      figure: 'Storm: every folded alert delivered to Temporal (from the first post)',
      target: '(information)',
      measured: sp(spread(stormRuns.map((r) => r.deliveredMs))),
      pass: null,
      data: { deliveredMs: stormRuns.map((r) => r.deliveredMs) },
    },
  ];
}

function stormRow(r: StormResult): Record<string, unknown> {
  return {
    alerts: r.alerts,
    incidents: r.incidents,
    requests: r.requests,
    wallMs: Math.round(r.wallMs),
    alertsPerSec: Math.round(r.alertsPerSec),
    requestP50Ms: Math.round(percentile(r.requestMs, 50)),
    requestP99Ms: Math.round(percentile(r.requestMs, 99)),
    firstActionP50Ms: Math.round(percentile(r.firstActionMs, 50)),
    firstActionP99Ms: Math.round(percentile(r.firstActionMs, 99)),
    deliveredMs: Math.round(r.deliveredMs),
    peakRssMb: Math.round(r.peakRssMb),
    intakePeakRssMb: Math.round(r.intakePeakRssMb),
    ok: r.invariant.ok,
  };
}
