/**
 * The benchmark plots from a saved results sample (test/fixtures/bench-results-small.json: the
 * growth rows and first-action samples of a real `npm run bench` run, the rest left out): each plot
 * is well-formed SVG with one point per measurement, on the measured values, and a run of a subset
 * (BENCH_ONLY) draws only what it has data for.
 */
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { benchPlots, writeBenchPlots, type PlotInput } from '../../bench/plots';
import { elements, parseSvg } from '../report/well-formed';

const sample = JSON.parse(
  readFileSync(path.resolve(__dirname, '../fixtures/bench-results-small.json'), 'utf8'),
) as PlotInput;

const samples = (id: string) => sample.figures.find((f) => f.id === id)!.data.samples as number[];

/** The drawn data points: ECharts marks each with its series and data index (marker lines are silent). */
function points(svg: string): { series: number; index: number; x: number; y: number }[] {
  return elements(parseSvg(svg), 'path')
    .filter(
      (p) =>
        p.getAttribute('ecmeta_ssr_type') === 'chart' &&
        p.getAttribute('ecmeta_data_index') !== null &&
        p.getAttribute('ecmeta_silent') !== 'true',
    )
    .map((p) => {
      const m = /matrix\([^,]+,[^,]+,[^,]+,[^,]+,([-\d.]+),([-\d.]+)\)/.exec(
        p.getAttribute('transform') ?? '',
      );
      return {
        series: Number(p.getAttribute('ecmeta_series_index')),
        index: Number(p.getAttribute('ecmeta_data_index')),
        x: Number(m?.[1]),
        y: Number(m?.[2]),
      };
    });
}

const texts = (svg: string) => elements(parseSvg(svg), 'text').map((t) => t.textContent ?? '');

test('the sample has the growth rows and the first-action samples of a real run', () => {
  expect(sample.growth.storm.length).toBeGreaterThanOrEqual(2);
  expect(sample.growth.open.length).toBeGreaterThanOrEqual(2);
  expect(samples('floor').length).toBeGreaterThan(1);
  expect(samples('alert-first-action-p50').length).toBeGreaterThan(1);
});

test('three plots, each well-formed SVG with one point per measurement', () => {
  const plots = benchPlots(sample);
  expect(plots.map((p) => p.file)).toEqual(['growth-storm.svg', 'growth-open.svg', 'first-action.svg']);
  const expected: Record<string, number> = {
    'growth-storm.svg': 2 * sample.growth.storm.length,
    'growth-open.svg': 2 * sample.growth.open.length,
    'first-action.svg': samples('floor').length + samples('alert-first-action-p50').length,
  };
  for (const p of plots) {
    expect(p.svg.startsWith('<svg')).toBe(true);
    expect(points(p.svg)).toHaveLength(expected[p.file]);
    expect(p.points).toBe(expected[p.file]);
  }
});

test('growth: measured points left to right by size, labelled with their values, a linear reference per panel', () => {
  const [storm, open] = benchPlots(sample);
  for (const [plot, rows, values] of [
    [storm, sample.growth.storm, ['wallMs', 'peakRssMb']],
    [open, sample.growth.open, ['openWallMs', 'rssMb']],
  ] as const) {
    const pts = points(plot.svg);
    // Two panels: series 0 (time) and 2 (memory); 1 and 3 are the references, drawn without points.
    expect([...new Set(pts.map((p) => p.series))].sort()).toEqual([0, 2]);
    for (const series of [0, 2]) {
      const xs = pts
        .filter((p) => p.series === series)
        .sort((a, b) => a.index - b.index)
        .map((p) => p.x);
      expect(xs).toEqual([...xs].sort((a, b) => a - b));
    }
    const labels = texts(plot.svg);
    for (const row of rows) expect(labels).toContain(`${Math.round(Number(row[values[1]]))} MB`);
    expect(labels.some((l) => l.startsWith('linear:'))).toBe(true);
    // Wall time grows with size: the largest run's point is the highest of its panel (smallest y).
    const time = pts.filter((p) => p.series === 0).sort((a, b) => a.index - b.index);
    const sizes = rows.map((r) => Number(Object.values(r)[0]));
    expect(sizes).toEqual([...sizes].sort((a, b) => a - b));
    expect(time.at(-1)!.y).toBeLessThan(time[0].y);
  }
});

test('first action: both distributions, with their medians marked', () => {
  const plot = benchPlots(sample).find((p) => p.file === 'first-action.svg')!;
  const pts = points(plot.svg);
  expect(pts.filter((p) => p.series === 0)).toHaveLength(samples('alert-first-action-p50').length);
  expect(pts.filter((p) => p.series === 1)).toHaveLength(samples('floor').length);
  const labels = texts(plot.svg);
  expect(labels.filter((l) => /^p50 \d+ ms$/.test(l))).toHaveLength(2);
  expect(labels.some((l) => l.startsWith('floor: bare client start'))).toBe(true);
});

test('a subset run (BENCH_ONLY=1) writes only the first-action plot, beside the results', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'abk-plots-'));
  const files = writeBenchPlots({ ...sample, growth: { storm: [], open: [] } }, dir);
  expect(files).toEqual([path.join(dir, 'first-action.svg')]);
  expect(readdirSync(dir)).toEqual(['first-action.svg']);
  expect(() => parseSvg(readFileSync(files[0], 'utf8'))).not.toThrow();
});
