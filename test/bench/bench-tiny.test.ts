/**
 * Every benchmark once at a tiny size, so none of them rots. It checks that each figure is produced,
 * the invariants hold (exactly N workflows, every alert accounted for, none lost or started twice,
 * every open incident resumed) and the plots are drawn; it never asserts a wall-clock time.
 */
import { benchPlots } from '../../bench/plots';
import type { BenchReport } from '../../bench/report';
import { TINY_SIZES } from '../../bench/sizes';
import { runAll } from '../../bench/suite';
import { parseSvg } from '../report/well-formed';

let report: BenchReport;

// Benchmark 7 waits for a quiet API and runs one crash through the whole alert loop: minutes more.
beforeAll(async () => {
  report = await runAll(TINY_SIZES, 'tiny');
}, 420_000);

test('every benchmark produces its figures', () => {
  const ids = report.figures.map((f) => f.id);
  for (const id of [
    'floor',
    'alert-first-action-p50',
    'alert-first-action-p99',
    'storm-correctness',
    'storm-throughput',
    'storm-intake-p99',
    'open-rss',
    'open-approval-p99',
    'growth-storm',
    'growth-open',
    'history-P0-1',
    'history-P1-1',
    'simulated-48h',
    'detection-fault-to-firing',
    'detection-firing-to-intake',
    'detection-intake-to-action',
    'detection-fault-to-action',
    'detection-share',
  ]) {
    expect(ids).toContain(id);
  }
  for (const f of report.figures) expect(f.measured).not.toMatch(/NaN|n\/a ms/);
});

test('the storm starts exactly one workflow per incident and accounts for every alert', () => {
  expect(report.invariants.storm.length).toBeGreaterThan(0);
  for (const s of report.invariants.storm) {
    expect(s).toMatchObject({
      workflows: s.expectedWorkflows,
      alertsAccounted: s.alerts,
      lost: 0,
      startedTwice: 0,
      ok: true,
    });
  }
});

test('every open incident waits, is approved and resumes', () => {
  expect(report.invariants.open.length).toBeGreaterThan(0);
  for (const o of report.invariants.open)
    expect(o).toMatchObject({ opened: o.size, resumed: o.size, ok: true });
});

test('every runbook has its history measured and the follow-up path completes', () => {
  const history = report.figures.filter((f) => f.id.startsWith('history-'));
  expect(history).toHaveLength(TINY_SIZES.historyRunbooks?.length ?? 7);
  for (const h of history)
    expect(Number((h.data as { incidentEvents: number }).incidentEvents)).toBeGreaterThan(0);
  expect(report.figures.find((f) => f.id === 'simulated-48h')?.data.status).toBe('closed');
});

test('the plots of the run: growth curves and first-action latencies, one point per measurement', () => {
  const plots = benchPlots(report);
  expect(plots.map((p) => p.file)).toEqual(['growth-storm.svg', 'growth-open.svg', 'first-action.svg']);
  const points = Object.fromEntries(plots.map((p) => [p.file, p.points]));
  expect(points['growth-storm.svg']).toBe(2 * TINY_SIZES.growthAlerts.length);
  expect(points['growth-open.svg']).toBe(2 * TINY_SIZES.growthOpen.length);
  expect(points['first-action.svg']).toBe(2 * TINY_SIZES.firstActionRuns);
  for (const p of plots) expect(() => parseSvg(p.svg)).not.toThrow();
});
