/**
 * The benchmark's figures as SVG plots, drawn by Apache ECharts' server-side renderer from a results
 * object (what `npm run bench` writes to bench/results/latest.json):
 *  - growth-storm.svg: storm size (alerts) → wall time and worker peak RSS;
 *  - growth-open.svg: open incidents → time to open them and worker RSS;
 *  - first-action.svg: alert → first activity started, the distribution beside the floor's.
 * Each growth panel has a linear reference: what the smallest run's cost per unit predicts for the
 * larger ones (the table's "linear or better" is measured against the same line).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import * as echarts from 'echarts';
import { percentile } from './stats';
import type { BenchReport } from './report';

export type PlotInput = Pick<BenchReport, 'figures' | 'growth' | 'mode' | 'at' | 'machine'>;

/** Which run, and how busy the machine was: a plot without it invites the wrong comparison. */
const runOf = (r: PlotInput) =>
  `npm run bench (${r.mode}), ${r.at.slice(0, 10)}, ${r.machine.cpus} CPUs, ${r.machine.note}`;

/** A round axis for 0…v in about five ticks: 492 → 0…500 by 100, 8232 → 0…10,000 by 2,000. */
const roundAxis = (v: number): { max: number; interval: number } => {
  const raw = v / 5;
  const unit = 10 ** Math.floor(Math.log10(raw));
  const interval = [1, 2, 5, 10].map((k) => k * unit).find((s) => s >= raw) ?? 10 * unit;
  return { max: Math.ceil(v / interval) * interval, interval };
};

export interface BenchPlot {
  file: string;
  svg: string;
  /** Measured points drawn (the reference lines not counted). */
  points: number;
}

const COLORS = { measured: '#4c78a8', floor: '#54a24b', reference: '#9a9a9a' };
const WIDTH = 960;
const REFERENCE = 'linear: the smallest run’s cost per unit, scaled';
const HEIGHT = 380;

function render(option: echarts.EChartsOption, height = HEIGHT): string {
  const chart = echarts.init(null, undefined, { renderer: 'svg', ssr: true, width: WIDTH, height });
  try {
    chart.setOption({ animation: false, backgroundColor: '#ffffff', ...option });
    return chart.renderToSVGString();
  } finally {
    chart.dispose();
  }
}

interface Panel {
  title: string;
  xName: string;
  yName: string;
  xs: number[];
  ys: number[];
  /** How a value is labelled on its point. */
  label: (y: number) => string;
}

/** Two panels side by side, each the measured curve and its linear reference. */
function growthPlot(title: string, subtitle: string, panels: [Panel, Panel]): string {
  const grids = panels.map((_, i) => ({
    left: i === 0 ? 70 : WIDTH / 2 + 60,
    width: WIDTH / 2 - 110,
    top: 110,
    bottom: 60,
  }));
  const series: echarts.SeriesOption[] = [];
  const yAxes = panels.map((p, i) => {
    const [x0, y0] = [p.xs[0], p.ys[0]];
    const reference = p.xs.map((x) => (y0 / x0) * x);
    const top = Math.max(...p.ys);
    series.push(
      {
        type: 'line',
        name: 'measured',
        xAxisIndex: i,
        yAxisIndex: i,
        data: p.xs.map((x, k) => [x, p.ys[k]]),
        color: COLORS.measured,
        symbolSize: 8,
        label: {
          show: true,
          position: 'top',
          formatter: (v) => p.label((v.value as number[])[1]),
          fontSize: 11,
        },
      },
      {
        type: 'line',
        name: REFERENCE,
        xAxisIndex: i,
        yAxisIndex: i,
        data: p.xs.map((x, k) => [x, reference[k]]),
        color: COLORS.reference,
        lineStyle: { type: 'dashed' },
        showSymbol: false,
        silent: true,
      },
    );
    // A reference far above the measurements would flatten them: it leaves the top of the panel.
    const axis = Math.max(...reference) > 2 * top ? roundAxis(2 * top) : {};
    return {
      type: 'value' as const,
      gridIndex: i,
      name: `${p.title} (${p.yName})`,
      min: 0,
      ...axis,
      nameTextStyle: { align: 'left' as const, fontSize: 12, color: '#222' },
    };
  });
  return render({
    title: { text: title, subtext: subtitle, left: 10, top: 6, textStyle: { fontSize: 15 } },
    legend: { top: 52, left: 70, data: ['measured', REFERENCE] },
    grid: grids,
    xAxis: panels.map((p, i) => ({
      type: 'value' as const,
      gridIndex: i,
      name: p.xName,
      nameLocation: 'middle' as const,
      nameGap: 28,
      min: 0,
    })),
    yAxis: yAxes,
    series,
  });
}

const rows = (list: Record<string, unknown>[], x: string, ...ys: string[]) =>
  list
    .map((r) => [Number(r[x]), ...ys.map((k) => Number(r[k]))])
    .filter((v) => v.every(Number.isFinite))
    .sort((a, b) => a[0] - b[0]);

const ms = (v: number) => (v >= 1000 ? `${(v / 1000).toFixed(1)} s` : `${Math.round(v)} ms`);
const mb = (v: number) => `${Math.round(v)} MB`;

function stormPlot(r: PlotInput): BenchPlot | undefined {
  const pts = rows(r.growth.storm, 'alerts', 'wallMs', 'peakRssMb');
  if (pts.length < 2) return undefined;
  const xs = pts.map((p) => p[0]);
  const svg = growthPlot('Growth: alert storms', `${runOf(r)}; incidents grow with the alerts`, [
    { title: 'storm wall time', xName: 'alerts', yName: 'ms', xs, ys: pts.map((p) => p[1]), label: ms },
    { title: 'worker peak RSS', xName: 'alerts', yName: 'MB', xs, ys: pts.map((p) => p[2]), label: mb },
  ]);
  return { file: 'growth-storm.svg', svg, points: 2 * pts.length };
}

function openPlot(r: PlotInput): BenchPlot | undefined {
  const pts = rows(r.growth.open, 'open', 'openWallMs', 'rssMb');
  if (pts.length < 2) return undefined;
  const xs = pts.map((p) => p[0]);
  const svg = growthPlot('Growth: open incidents waiting for approval', runOf(r), [
    {
      title: 'time to open them',
      xName: 'open incidents',
      yName: 'ms',
      xs,
      ys: pts.map((p) => p[1]),
      label: ms,
    },
    { title: 'worker RSS', xName: 'open incidents', yName: 'MB', xs, ys: pts.map((p) => p[2]), label: mb },
  ]);
  return { file: 'growth-open.svg', svg, points: 2 * pts.length };
}

const samplesOf = (r: PlotInput, id: string): number[] => {
  const s = r.figures.find((f) => f.id === id)?.data.samples;
  return Array.isArray(s) ? s.map(Number).filter(Number.isFinite) : [];
};

/** Cumulative distributions: for each latency, the share of runs at or under it. */
function firstActionPlot(r: PlotInput): BenchPlot | undefined {
  const alert = samplesOf(r, 'alert-first-action-p50');
  const floor = samplesOf(r, 'floor');
  if (!alert.length || !floor.length) return undefined;
  const ecdf = (v: number[]) => [...v].sort((a, b) => a - b).map((x, i) => [x, (i + 1) / v.length]);
  const p50 = (v: number[]) => percentile(v, 50);
  const names = {
    alert: `alert → first activity (p50 ${ms(p50(alert))}, n=${alert.length})`,
    floor: `floor: bare client start (p50 ${ms(p50(floor))}, n=${floor.length})`,
  };
  const line = (name: string, v: number[], color: string): echarts.SeriesOption => ({
    type: 'line',
    name,
    step: 'end',
    data: ecdf(v),
    color,
    symbolSize: 5,
    markLine: {
      symbol: 'none',
      silent: true,
      lineStyle: { type: 'dotted', color },
      label: { formatter: `p50 ${ms(p50(v))}`, color },
      data: [{ xAxis: p50(v) }],
    },
  });
  const svg = render({
    title: {
      text: 'Alert → first action, beside the floor',
      subtext: `Target p50 ≤ 1.2 × floor; this run ${(p50(alert) / p50(floor)).toFixed(2)} ×. ${runOf(r)}`,
      left: 10,
      top: 6,
      textStyle: { fontSize: 15 },
    },
    legend: { top: 52, left: 70, itemGap: 40 },
    grid: { left: 70, right: 40, top: 110, bottom: 60 },
    // From the fastest run, not from 0: the two curves' shapes are what to compare.
    xAxis: { type: 'value', name: 'ms', nameLocation: 'middle', nameGap: 28, scale: true },
    yAxis: { type: 'value', name: 'share of runs ≤ x', min: 0, max: 1, nameTextStyle: { align: 'left' } },
    series: [line(names.alert, alert, COLORS.measured), line(names.floor, floor, COLORS.floor)],
  });
  return { file: 'first-action.svg', svg, points: alert.length + floor.length };
}

/** Every plot the results have data for (a BENCH_ONLY subset draws fewer). */
export function benchPlots(r: PlotInput): BenchPlot[] {
  return [stormPlot(r), openPlot(r), firstActionPlot(r)].filter((p): p is BenchPlot => Boolean(p));
}

/** Writes the plots into `dir` (beside latest.json); returns the files written. */
export function writeBenchPlots(r: PlotInput, dir: string): string[] {
  mkdirSync(dir, { recursive: true });
  return benchPlots(r).map((p) => {
    const file = path.join(dir, p.file);
    writeFileSync(file, p.svg);
    return file;
  });
}
