/**
 * The incident timeline as pictures, for a recorded history of every runbook:
 *  - the report's Mermaid gantt block is parsed and rendered by Mermaid itself (its browser bundle
 *    from node_modules, in headless Chromium: Mermaid needs a DOM to lay a chart out), and every
 *    step's bar sits where the history's ActivityTaskScheduled → closing events put it;
 *  - the SVG (ECharts, server-side) is well-formed XML, and its bars sit at the same times, to the
 *    pixel, on its time axis.
 * Times are read from the raw history JSON here, not through the report's model.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { chartOf, MAX_CHART_STEPS, type IncidentChart } from '../../common/report/chart';
import { modelFromHistory, reportFromHistory, timelineSvg } from '../../common/report/index';
import { ganttText, minimumBarMs, renderMermaidGantt } from '../../common/report/mermaid';
import { historyFromJson } from '../../common/report/proto-json';
import { SVG_LAYOUT, renderTimelineSvg, svgAxis } from '../../common/report/svg';
import { launchChromium } from '../../rig/browser';
import { assertCliBuilt, cliOn } from '../../rig/cli';
import { elements, parseSvg } from './well-formed';

const FIXTURES = path.resolve(__dirname, '../fixtures/histories');
interface JsonEvent {
  eventId: string;
  eventTime: string;
  eventType: string;
  [attributes: string]: unknown;
}
const fixture = (name: string) =>
  JSON.parse(readFileSync(path.join(FIXTURES, `${name}.json`), 'utf8')) as { events: JsonEvent[] };

/** One recorded history per runbook, and the escalated one (its MTTR target is on the chart). */
const HISTORIES = [
  'P0-1-crash-restart-verified',
  'P0-1-still-down-escalated-resolved-by-person',
  'P0-2-idle-killed-restarted-verified',
  'P0-3-frozen-refunded-wrong-code-then-approved',
  'P0-4-held-wrong-code-then-approved',
  'P1-1-checked-restarted-verified',
  'P1-2-slow-queries-cancelled-verified',
  'P1-3-scaled-paused-drained-resumed',
];

interface Span {
  scheduled: number;
  started?: number;
  closed?: number;
}

/** Every activity's scheduled, started and closing times, straight from the history's events. */
function activitySpans(events: JsonEvent[]): Span[] {
  const byId = new Map<string, Span>();
  const spans: Span[] = [];
  const attr = (e: JsonEvent, name: string) => (e[name] as { scheduledEventId: string }).scheduledEventId;
  for (const e of events) {
    const t = Date.parse(e.eventTime);
    switch (e.eventType) {
      case 'EVENT_TYPE_ACTIVITY_TASK_SCHEDULED': {
        const span = { scheduled: t };
        byId.set(e.eventId, span);
        spans.push(span);
        break;
      }
      case 'EVENT_TYPE_ACTIVITY_TASK_STARTED':
        byId.get(attr(e, 'activityTaskStartedEventAttributes'))!.started = t;
        break;
      case 'EVENT_TYPE_ACTIVITY_TASK_COMPLETED':
        byId.get(attr(e, 'activityTaskCompletedEventAttributes'))!.closed = t;
        break;
      case 'EVENT_TYPE_ACTIVITY_TASK_FAILED':
        byId.get(attr(e, 'activityTaskFailedEventAttributes'))!.closed = t;
        break;
      case 'EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT':
        byId.get(attr(e, 'activityTaskTimedOutEventAttributes'))!.closed = t;
        break;
    }
  }
  return spans;
}

const mermaidBlock = (markdown: string): string => {
  const m = /```mermaid\n([\s\S]*?)```/.exec(markdown);
  if (!m) throw new Error('no mermaid block in the report');
  return m[1];
};

let browser: Browser;
let page: Page;

beforeAll(async () => {
  browser = await launchChromium();
  page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
  await page.setContent('<html><body><div id="chart"></div></body></html>');
  await page.addScriptTag({ path: require.resolve('mermaid/dist/mermaid.min.js') });
  await page.evaluate(() => {
    (globalThis as unknown as { mermaid: { initialize(c: object): void } }).mermaid.initialize({
      startOnLoad: false,
      securityLevel: 'strict',
    });
  });
});

afterAll(async () => {
  await browser?.close();
});

let renders = 0;
/** Mermaid's own parse (throws on a syntax error), then its render: the SVG a wiki would show. */
async function renderMermaid(text: string): Promise<{ diagramType: string; svg: string; id: string }> {
  const id = `timeline${++renders}`;
  const out = await page.evaluate(
    async ([src, renderId]) => {
      const mermaid = (
        globalThis as unknown as {
          mermaid: {
            parse(t: string): Promise<{ diagramType: string }>;
            render(id: string, t: string): Promise<{ svg: string }>;
          };
        }
      ).mermaid;
      const parsed = await mermaid.parse(src);
      const { svg } = await mermaid.render(renderId, src);
      return { diagramType: parsed.diagramType, svg };
    },
    [text, id] as const,
  );
  return { ...out, id };
}

const num = (el: { getAttribute(n: string): string | null }, name: string) => Number(el.getAttribute(name));

describe.each(HISTORIES)('%s', (name) => {
  const json = fixture(name);
  const spans = activitySpans(json.events);
  const model = modelFromHistory(historyFromJson(json));
  const chart: IncidentChart = chartOf(model);

  test('the Mermaid gantt block parses and renders, one bar per step where the history puts it', async () => {
    expect(spans.length).toBeGreaterThan(1);
    const text = mermaidBlock(reportFromHistory(historyFromJson(json)));
    const { diagramType, svg, id } = await renderMermaid(text);
    expect(diagramType).toBe('gantt');

    const doc = parseSvg(svg);
    const rects = new Map(
      elements(doc, 'rect')
        .filter((r) => r.getAttribute('id')?.startsWith(`${id}-`))
        .map((r) => [r.getAttribute('id')!.slice(id.length + 1), r]),
    );
    const stepIds = [...rects.keys()].filter((k) => /^s\d+$/.test(k));
    expect(stepIds).toHaveLength(spans.length);

    // The time scale from two milestones (a milestone is a barHeight-wide diamond centred on its time).
    const centre = (key: string) => num(rects.get(key)!, 'x') + num(rects.get(key)!, 'width') / 2;
    const detected = chart.milestones.find((m) => m.kind === 'detected')!.at;
    const resolved = chart.milestones.find((m) => m.kind === 'resolved')!.at;
    const pxPerMs = (centre('resolved') - centre('detected')) / (resolved - detected);
    const xAt = (t: number) => centre('detected') + (t - detected) * pxPerMs;
    const minMs = minimumBarMs(chart.max - chart.min);
    spans.forEach((span, i) => {
      const bar = rects.get(`s${i + 1}`)!;
      expect(span.closed).toBeDefined();
      // The activity ran inside its bar.
      expect(span.started).toBeGreaterThanOrEqual(span.scheduled);
      expect(span.started).toBeLessThanOrEqual(span.closed!);
      expect(Math.abs(num(bar, 'x') - xAt(span.scheduled))).toBeLessThanOrEqual(1.5);
      const drawnEnd = Math.max(span.closed!, span.scheduled + minMs);
      expect(Math.abs(num(bar, 'x') + num(bar, 'width') - xAt(drawnEnd))).toBeLessThanOrEqual(2);
    });

    // Escalations as milestones; waits for a person as bars; the target when it is in scale.
    const escalations = chart.milestones.filter((m) => m.kind === 'escalation');
    for (const e of escalations) expect(rects.has(e.id)).toBe(true);
    expect([...rects.keys()].filter((k) => /^w\d+$/.test(k))).toHaveLength(
      chart.bars.filter((b) => b.kind === 'wait').length,
    );
    expect(rects.has('target')).toBe(chart.targetShown);
    if (chart.targetShown) expect(Math.abs(centre('target') - xAt(chart.targetAt!))).toBeLessThanOrEqual(1.5);
  });

  test('the SVG is well-formed and its bars match the history to the pixel', () => {
    const svg = timelineSvg(model);
    const doc = parseSvg(svg);
    const paths = elements(doc, 'path');
    const seriesBars = (series: number) =>
      paths
        .filter((p) => p.getAttribute('ecmeta_series_index') === String(series))
        .sort((a, b) => num(a, 'ecmeta_data_index') - num(b, 'ecmeta_data_index'));
    const bars = seriesBars(0);
    expect(bars).toHaveLength(spans.length);

    const L = SVG_LAYOUT;
    const axis = svgAxis(chart);
    const plotWidth = L.width - L.gridLeft - L.gridRight;
    const xAt = (t: number) => L.gridLeft + ((t - axis.min) / (axis.max - axis.min)) * plotWidth;
    spans.forEach((span, i) => {
      // zrender writes a rect as "M x y l w 0 l 0 h l -w 0 Z".
      const m = /^M(-?[\d.]+) (-?[\d.]+)l(-?[\d.]+) 0/.exec(bars[i].getAttribute('d') ?? '');
      expect(m).not.toBeNull();
      const [x, w] = [Number(m![1]), Number(m![3])];
      expect(Math.abs(x - xAt(span.scheduled))).toBeLessThanOrEqual(0.6);
      const width = Math.max(L.minBarPx, xAt(span.closed!) - xAt(span.scheduled));
      expect(Math.abs(w - width)).toBeLessThanOrEqual(0.6);
    });
    expect(seriesBars(1)).toHaveLength(chart.bars.filter((b) => b.kind === 'wait').length);

    // Every row is labelled: detection, each step, each wait, each escalation, resolution.
    const texts = elements(doc, 'text').map((t) => t.textContent ?? '');
    expect(texts).toContain('Detected');
    expect(texts).toContain('Resolved');
    for (const e of chart.milestones.filter((x) => x.kind === 'escalation')) expect(texts).toContain(e.label);
    const target = texts.find((t) => t.startsWith('MTTR target'));
    expect(Boolean(target)).toBe(chart.targetShown);
    expect(doc.documentElement!.getAttribute('aria-label')).toMatch(/Time to resolve .* vs MTTR target/);
  });
});

test('the escalated P0-1 shows the page as a milestone and the MTTR target beyond the resolution', () => {
  const chart = chartOf(
    modelFromHistory(historyFromJson(fixture('P0-1-still-down-escalated-resolved-by-person'))),
  );
  const at = (kind: string) => chart.milestones.find((m) => m.kind === kind)?.at ?? NaN;
  expect(chart.milestones.filter((m) => m.kind === 'escalation').map((m) => m.label)).toEqual([
    'Escalated to engineering lead (CTO)',
  ]);
  expect(chart.targetShown).toBe(true);
  expect(at('target') - at('detected')).toBe(30 * 60_000);
  expect(at('detected')).toBeLessThan(at('escalation'));
  expect(at('escalation')).toBeLessThan(at('resolved'));
  expect(at('resolved')).toBeLessThan(at('target'));
});

test('a seconds-long incident leaves the 30-minute target off the scale and says where it is', () => {
  const chart = chartOf(
    modelFromHistory(historyFromJson(fixture('P0-3-frozen-refunded-wrong-code-then-approved'))),
  );
  expect(chart.targetShown).toBe(false);
  expect(chart.bars.filter((b) => b.kind === 'wait')).toHaveLength(1);
  const block = renderMermaidGantt(chart);
  expect(block).toMatch(/The target \(\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ\) is far beyond the right edge/);
  expect(block).not.toContain('MTTR target 30m :milestone');
});

test('a running incident: no resolution milestone, the chart still parses', async () => {
  const json = fixture('P0-1-still-down-escalated-resolved-by-person');
  // Cut the history just before the person's `resolve` signal: the incident is open.
  const cut = json.events.findIndex((e) => e.eventType === 'EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED');
  json.events = json.events.slice(0, cut);
  const now = new Date(Date.parse(json.events.at(-1)!.eventTime) + 5_000);
  const chart = chartOf(modelFromHistory(historyFromJson(json)), { now });
  expect(chart.resolved).toBe(false);
  expect(chart.milestones.some((m) => m.kind === 'resolved')).toBe(false);
  expect(chart.end).toBe(now.getTime());
  const { svg, id } = await renderMermaid(mermaidBlock(renderMermaidGantt(chart)));
  const ids = elements(parseSvg(svg), 'rect').map((r) => r.getAttribute('id'));
  expect(ids).toContain(`${id}-detected`);
  expect(ids).not.toContain(`${id}-resolved`);
  expect(renderMermaidGantt(chart)).toContain('Open for');
});

test('step names with gantt syntax in them (: # ; % and a leading keyword) stay one task each', async () => {
  const t0 = Date.parse('2026-12-05T06:01:02.000Z');
  const nasty = [
    'section 1: restart #2; 50% done',
    'title: click here',
    '2026-12-05 looks like a date',
    '%% not a comment',
    'after s1',
    'a <b>bold</b> "quoted" `step`',
  ];
  const chart: IncidentChart = {
    title: 'P0-1 System down: api#1; 100%',
    detectedAt: t0,
    end: t0 + 60_000,
    resolved: true,
    targetMs: 30 * 60_000,
    targetAt: t0 + 30 * 60_000,
    targetShown: false,
    ttrMs: 60_000,
    breached: false,
    bars: nasty.map((label, i) => ({
      id: `s${i + 1}`,
      kind: 'step' as const,
      label,
      start: t0 + i * 5000,
      end: t0 + i * 5000 + 3,
      status: i % 2 ? ('failed' as const) : ('done' as const),
    })),
    milestones: [
      { id: 'detected', kind: 'detected', label: 'Detected', at: t0 },
      { id: 'e1', kind: 'escalation', label: 'Escalated to CTO: #1 tier; 100%', at: t0 + 40_000 },
      { id: 'resolved', kind: 'resolved', label: 'Resolved', at: t0 + 60_000 },
    ],
    omittedSteps: 0,
    min: t0,
    max: t0 + 60_000,
  };
  const text = mermaidBlock(renderMermaidGantt(chart));
  for (const label of nasty) expect(ganttText(label)).not.toMatch(/[:#;%]/);
  const { svg, id } = await renderMermaid(text);
  const doc = parseSvg(svg);
  const ids = elements(doc, 'rect').map((r) => r.getAttribute('id'));
  for (let i = 1; i <= nasty.length; i++) expect(ids).toContain(`${id}-s${i}`);
  expect(ids).toContain(`${id}-e1`);
  const labels = elements(doc, 'text').map((t) => t.textContent ?? '');
  expect(labels.some((l) => l.startsWith('▸ section 1∶ restart ＃2； 50％ done'))).toBe(true);
  // The SVG of the same chart is well-formed too, labels escaped.
  expect(() => parseSvg(renderTimelineSvg(chart))).not.toThrow();
});

test('a long incident keeps the first and last steps, says how many are left out, and still parses', async () => {
  const model = modelFromHistory(historyFromJson(fixture('P0-1-still-down-escalated-resolved-by-person')));
  const recheck = model.activities.at(-1)!;
  const t0 = Date.parse(recheck.scheduledAt);
  const extra = Array.from({ length: 100 }, (_, i) => ({
    ...recheck,
    scheduledEventId: 10_000 + i,
    scheduledAt: new Date(t0 + (i + 1) * 500).toISOString(),
    closedAt: new Date(t0 + (i + 1) * 500 + 20).toISOString(),
  }));
  const steps = model.activities.length + extra.length;
  model.activities.push(...extra);
  const chart = chartOf(model);
  expect(chart.bars.filter((b) => b.kind === 'step')).toHaveLength(MAX_CHART_STEPS);
  expect(chart.omittedSteps).toBe(steps - MAX_CHART_STEPS);
  expect(chart.bars[0].start).toBe(Date.parse(model.activities[0].scheduledAt));
  const block = renderMermaidGantt(chart);
  expect(block).toContain(`${steps - MAX_CHART_STEPS} steps in the middle are left out`);
  const { svg, id } = await renderMermaid(mermaidBlock(block));
  const bars = elements(parseSvg(svg), 'rect').filter((r) => /-s\d+$/.test(r.getAttribute('id') ?? ''));
  expect(bars).toHaveLength(MAX_CHART_STEPS);
  expect(bars.every((r) => r.getAttribute('id')!.startsWith(`${id}-`))).toBe(true);
});

describe('runbooks report --svg (the built CLI)', () => {
  const cli = cliOn('report-svg-unused');
  const history = path.join(FIXTURES, 'P0-4-held-wrong-code-then-approved.json');
  beforeAll(() =>
    assertCliBuilt([
      'client/cli.ts',
      'client/cli/report.ts',
      'client/report.ts',
      'common/report/svg.ts',
      'common/report/mermaid.ts',
    ]),
  );

  test('writes the Markdown and, beside it, the same timeline as SVG', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'abk-report-svg-'));
    const [md, svg] = [path.join(dir, 'report.md'), path.join(dir, 'report.svg')];
    const run = await cli('report', '--from-file', history, '--out', md, '--svg', svg);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(`Report written to ${md}, timeline picture to ${svg}`);
    const steps = (readFileSync(md, 'utf8').match(/^ {4}.* :(done|crit|active), s\d+, /gm) ?? []).length;
    const doc = parseSvg(readFileSync(svg, 'utf8'));
    const bars = elements(doc, 'path').filter((p) => p.getAttribute('ecmeta_series_index') === '0');
    expect(steps).toBeGreaterThan(5);
    expect(bars).toHaveLength(steps);
  });

  test('a folder that does not exist for --svg is named as the file it cannot write', async () => {
    const svg = path.join(tmpdir(), 'abk-no-such-dir', 'nested', 'report.svg');
    const run = await cli('report', '--from-file', history, '--svg', svg);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`Cannot write ${svg}`);
    expect(run.stderr).not.toContain('Cannot read');
  });
});
