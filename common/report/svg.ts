/**
 * The timeline chart as an SVG file, drawn by Apache ECharts' server-side renderer (no DOM, no
 * browser): one row per step, wait, escalation and the detection/resolution milestones, bars from
 * start to end on a UTC time axis, and the MTTR target as a dashed vertical line.
 */
import * as echarts from 'echarts';
import { chartCaption, rowLabel, shortDuration, type ChartBar, type IncidentChart } from './chart';

/** Fixed geometry: the test maps a bar's pixels back to times with it. */
export const SVG_LAYOUT = {
  width: 1100,
  gridLeft: 340,
  gridRight: 90,
  gridTop: 74,
  gridBottom: 40,
  rowHeight: 24,
  /** Shorter bars are drawn this wide (px) so they show; their label says the real length. */
  minBarPx: 2,
} as const;

/** The drawn axis: the chart's span with 2% either side so edge bars do not touch the frame. */
export function svgAxis(c: IncidentChart): { min: number; max: number } {
  const pad = (c.max - c.min) * 0.02;
  return { min: c.min - pad, max: c.max + pad };
}

const COLORS = {
  done: '#4c78a8',
  failed: '#e45756',
  running: '#f58518',
  wait: '#eeca3b',
  detected: '#595959',
  escalation: '#e45756',
  resolved: '#54a24b',
  target: '#b22222',
} as const;

interface Row {
  label: string;
}

/** Row order: detection, steps, waits, escalations, resolution (as in the Mermaid block). */
function rowsOf(c: IncidentChart): {
  rows: Row[];
  barRow: Map<ChartBar, number>;
  milestoneRow: Map<string, number>;
} {
  const rows: Row[] = [];
  const barRow = new Map<ChartBar, number>();
  const milestoneRow = new Map<string, number>();
  const add = (label: string) => rows.push({ label }) - 1;
  for (const m of c.milestones.filter((x) => x.kind === 'detected')) milestoneRow.set(m.id, add(m.label));
  for (const b of c.bars.filter((x) => x.kind === 'step')) barRow.set(b, add(b.label));
  for (const b of c.bars.filter((x) => x.kind === 'wait')) barRow.set(b, add(b.label));
  for (const m of c.milestones.filter((x) => x.kind === 'escalation')) milestoneRow.set(m.id, add(m.label));
  for (const m of c.milestones.filter((x) => x.kind === 'resolved')) milestoneRow.set(m.id, add(m.label));
  return { rows, barRow, milestoneRow };
}

const xml = (s: string) =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** What a screen reader or a file browser says: ECharts' `aria` option needs a DOM, so it is added here. */
const withTitle = (svg: string, text: string): string =>
  svg.replace(/^<svg([^>]*)>/, `<svg$1 role="img" aria-label="${xml(text)}"><title>${xml(text)}</title>`);

const clock = (ms: number) => new Date(ms).toISOString().slice(11, 23);

export function renderTimelineSvg(c: IncidentChart): string {
  const L = SVG_LAYOUT;
  const { rows, barRow, milestoneRow } = rowsOf(c);
  const height = L.gridTop + L.gridBottom + Math.max(rows.length, 1) * L.rowHeight;
  const chart = echarts.init(null, undefined, { renderer: 'svg', ssr: true, width: L.width, height });
  try {
    chart.setOption({
      animation: false,
      useUTC: true,
      backgroundColor: '#ffffff',
      ...layoutOption(c, rows),
      series: [
        barSeries('steps', barData(c, barRow, 'step')),
        barSeries('waits', barData(c, barRow, 'wait')),
        milestoneSeries(c, milestoneRow),
      ],
    });
    return withTitle(chart.renderToSVGString(), `Incident timeline of ${c.title}. ${chartCaption(c)}`);
  } finally {
    chart.dispose();
  }
}

/** Title and caption, the grid, the UTC time axis and one category row per bar or milestone. */
function layoutOption(c: IncidentChart, rows: Row[]) {
  const L = SVG_LAYOUT;
  const axis = svgAxis(c);
  return {
    title: {
      text: rowLabel(`Timeline: ${c.title}`, 110),
      subtext: chartCaption(c),
      left: 10,
      top: 6,
      textStyle: { fontSize: 15 },
      subtextStyle: { fontSize: 11, color: '#444', width: L.width - 20, overflow: 'break' },
    },
    grid: { left: L.gridLeft, right: L.gridRight, top: L.gridTop, bottom: L.gridBottom },
    xAxis: {
      type: 'time',
      min: axis.min,
      max: axis.max,
      splitLine: { show: true, lineStyle: { color: '#eee' } },
      axisLabel: { hideOverlap: true, fontSize: 10 },
    },
    yAxis: {
      type: 'category',
      inverse: true,
      data: rows.map((r) => rowLabel(r.label, 52)),
      axisTick: { show: false },
      axisLabel: { fontSize: 11, color: '#222' },
      splitLine: { show: true, lineStyle: { color: '#f3f3f3' } },
    },
  } as const;
}

type BarDatum = ReturnType<typeof barData>[number];

/** The bars of one kind: [row, start, end], their colour and the length written beside them. */
function barData(c: IncidentChart, barRow: Map<ChartBar, number>, kind: ChartBar['kind']) {
  return c.bars
    .filter((b) => b.kind === kind)
    .map((b) => ({
      value: [barRow.get(b) ?? 0, b.start, b.end],
      itemStyle: { color: kind === 'wait' ? COLORS.wait : COLORS[b.status] },
      duration: `${shortDuration(b.end - b.start)}${b.attempts && b.attempts > 1 ? ` (${b.attempts} attempts)` : ''}${b.status === 'running' ? ' running' : ''}`,
    }));
}

function barSeries(name: string, data: BarDatum[]) {
  return {
    type: 'custom',
    name,
    renderItem: renderBar(data),
    encode: { x: [1, 2], y: 0 },
    data,
  } as const;
}

/** A bar at least minBarPx wide, with its length written to its right. */
const renderBar =
  (data: BarDatum[]): echarts.CustomSeriesRenderItem =>
  (params, api) => {
    const L = SVG_LAYOUT;
    const row = api.value(0);
    const from = api.coord([api.value(1), row]);
    const to = api.coord([api.value(2), row]);
    const h = L.rowHeight * 0.6;
    const width = Math.max(L.minBarPx, to[0] - from[0]);
    const d = data[params.dataIndex];
    return {
      type: 'group',
      children: [
        {
          type: 'rect',
          shape: { x: from[0], y: from[1] - h / 2, width, height: h },
          style: { fill: d.itemStyle.color },
        },
        {
          type: 'text',
          style: {
            x: from[0] + width + 4,
            y: from[1],
            text: d.duration,
            fill: '#333',
            font: '10px sans-serif',
            verticalAlign: 'middle',
          },
        },
      ],
    };
  };

/** Milestones as diamonds with their time, the MTTR target as a dashed line, the open time shaded. */
function milestoneSeries(c: IncidentChart, milestoneRow: Map<string, number>) {
  const milestoneColor = (kind: string) =>
    kind === 'escalation' ? COLORS.escalation : kind === 'resolved' ? COLORS.resolved : COLORS.detected;
  const milestones = c.milestones
    .filter((m) => milestoneRow.has(m.id))
    .map((m) => ({
      value: [m.at, milestoneRow.get(m.id)],
      itemStyle: { color: milestoneColor(m.kind) },
      label: { show: true, position: 'right' as const, formatter: clock(m.at), fontSize: 10, color: '#333' },
    }));
  const target = c.milestones.find((m) => m.kind === 'target');
  return {
    type: 'scatter',
    name: 'milestones',
    symbol: 'diamond',
    symbolSize: 13,
    data: milestones,
    markLine: target
      ? {
          symbol: 'none',
          silent: true,
          lineStyle: { color: COLORS.target, type: 'dashed', width: 1.5 },
          label: {
            formatter: target.label,
            position: 'start',
            color: COLORS.target,
            fontSize: 11,
          },
          data: [{ xAxis: target.at }],
        }
      : undefined,
    // The time the incident was open, shaded: green within the target, red past it.
    markArea: {
      silent: true,
      itemStyle: { color: c.breached ? 'rgba(228,87,86,0.08)' : 'rgba(84,162,75,0.08)' },
      data: [[{ xAxis: c.detectedAt }, { xAxis: c.end }]],
    },
  } as const;
}
