/**
 * The timeline chart as a Mermaid `gantt` block: it renders where post-mortems are written (GitHub,
 * GitLab, most wikis). Mermaid's gantt grammar is line based and strict, hence:
 *  - times are written with milliseconds (`dateFormat YYYY-MM-DD HH:mm:ss.SSS`), start and end both
 *    explicit (no durations: older renderers know no `ms` unit); they are UTC wall-clock times, and
 *    Mermaid reads and prints them in the same (local) zone, so the axis shows UTC;
 *  - a task's text ends at `:` and its data at `#` or `;` (a comment or a statement end), `%` starts a
 *    comment, and a line starting with a keyword (`section`, `title`, `click`…) or a date is that
 *    statement: names are rewritten to look-alike characters and keyword starts get a prefix;
 *  - a bar is as wide as its duration on the axis: a 10 ms step of a 16-minute incident would be
 *    invisible, so a bar is drawn at least 1/300 of the axis long (its label says the real length);
 *  - escalations, detection, resolution and the MTTR target are milestones (zero-length tasks).
 */
import { chartCaption, rowLabel, shortDuration, type ChartBar, type IncidentChart } from './chart';

const KEYWORD_START =
  /^(gantt|dateformat|inclusiveenddates|topaxis|axisformat|tickinterval|includes|excludes|todaymarker|weekday|weekend|title|accdescription|acctitle|accdescr|section|click|call|href|after|until)\b|^\d{4}-\d\d-\d\d/i;

/** Text safe on a gantt line: what the grammar reads as syntax becomes a look-alike character. */
export function ganttText(text: string): string {
  const safe = text
    .replace(/[\r\n\t]+/g, ' ')
    .replace(/:/g, '∶')
    .replace(/#/g, '＃')
    .replace(/;/g, '；')
    .replace(/%/g, '％')
    .replace(/</g, '‹')
    .replace(/>/g, '›')
    .replace(/"/g, '”')
    .replace(/`/g, "'")
    .replace(/\s+/g, ' ')
    .trim();
  if (!safe) return 'step';
  return KEYWORD_START.test(safe) ? `▸ ${safe}` : safe;
}

/** `2026-11-27 15:32:38.211`: the block's dateFormat, in UTC. */
export const ganttTime = (ms: number): string => new Date(ms).toISOString().slice(0, 23).replace('T', ' ');

export const GANTT_DATE_FORMAT = 'YYYY-MM-DD HH:mm:ss.SSS';

/** A bar is drawn at least this long (ms) on a chart spanning `span` ms. */
export const minimumBarMs = (span: number): number => Math.max(1, Math.ceil(span / 300));

/** Tick labels as precise as the span needs (d3 time format). */
export function axisFormatFor(spanMs: number): string {
  if (spanMs < 60_000) return '%H:%M:%S.%L';
  if (spanMs < 2 * 3600_000) return '%H:%M:%S';
  if (spanMs < 2 * 86400_000) return '%H:%M';
  return '%m-%d %H:%M';
}

const TAGS: Record<ChartBar['status'], string> = { done: 'done', failed: 'crit', running: 'active' };

function barLine(b: ChartBar, minMs: number): string {
  const real = b.end - b.start;
  const retries = b.attempts && b.attempts > 1 ? `, ${b.attempts} attempts` : '';
  const running = b.status === 'running' ? ', running' : b.status === 'failed' ? ', failed' : '';
  const label = ganttText(`${rowLabel(b.label)} (${shortDuration(real)}${retries}${running})`);
  const tag = b.kind === 'wait' ? 'active' : TAGS[b.status];
  return `    ${label} :${tag}, ${b.id}, ${ganttTime(b.start)}, ${ganttTime(Math.max(b.end, b.start + minMs))}`;
}

/** The ```mermaid fenced block, followed by the caption line. */
export function renderMermaidGantt(c: IncidentChart): string {
  const minMs = minimumBarMs(c.max - c.min);
  const milestone = (id: string, tag: string) => {
    const m = c.milestones.find((x) => x.id === id);
    return m
      ? [`    ${ganttText(m.label)} :milestone, ${tag}${m.id}, ${ganttTime(m.at)}, ${ganttTime(m.at)}`]
      : [];
  };
  const steps = c.bars.filter((b) => b.kind === 'step');
  const waits = c.bars.filter((b) => b.kind === 'wait');
  const escalations = c.milestones.filter((m) => m.kind === 'escalation');
  const caption = chartCaption(c);
  const lines = [
    '```mermaid',
    'gantt',
    `    title ${ganttText(`Timeline of ${c.title}`)}`,
    `    accTitle: ${ganttText(`Incident timeline ${c.title}`)}`,
    `    accDescr: ${ganttText(caption)}`,
    `    dateFormat ${GANTT_DATE_FORMAT}`,
    `    axisFormat ${axisFormatFor(c.max - c.min)}`,
    '    todayMarker off',
    '    section Incident',
    ...milestone('detected', ''),
    ...(steps.length ? ['    section Steps', ...steps.map((b) => barLine(b, minMs))] : []),
    ...(waits.length ? ['    section Waiting', ...waits.map((b) => barLine(b, minMs))] : []),
    ...(escalations.length
      ? [
          '    section Escalations',
          ...escalations.map(
            (e) =>
              `    ${ganttText(e.label)} :milestone, crit, ${e.id}, ${ganttTime(e.at)}, ${ganttTime(e.at)}`,
          ),
        ]
      : []),
    ...(c.resolved || c.targetShown
      ? ['    section Outcome', ...milestone('resolved', 'done, '), ...milestone('target', 'crit, ')]
      : []),
    '```',
    '',
    `_${caption}_`,
  ];
  return lines.join('\n');
}
