/**
 * The incident's timeline as a chart, before it is drawn: detection, every step (activity) as a bar
 * from scheduled to closed, every wait for a person as a bar, escalations as milestones, resolution,
 * and the MTTR target. The Mermaid block (mermaid.ts) and the SVG (svg.ts) draw this same model, so
 * the two pictures show the same rows.
 */
import { escalationsOf, incidentClock, runbookOf } from './facts';
import { formatDuration, type ReportModel } from './model';
import { sanitizeText } from './sanitize';

export interface ChartBar {
  id: string;
  kind: 'step' | 'wait';
  label: string;
  /** Epoch ms: a step from its ActivityTaskScheduled to its closing event; a wait from since to until. */
  start: number;
  end: number;
  status: 'done' | 'failed' | 'running';
  /** The activity's attempts (steps). */
  attempts?: number;
}

export interface ChartMilestone {
  id: string;
  kind: 'detected' | 'escalation' | 'resolved' | 'target';
  label: string;
  at: number;
}

export interface IncidentChart {
  title: string;
  detectedAt: number;
  /** Resolution, or `now` for an open incident. */
  end: number;
  resolved: boolean;
  targetMs?: number;
  /** detectedAt + targetMs. */
  targetAt?: number;
  /**
   * Whether the target is drawn: only when it is at most as far again past the last event as the
   * incident itself lasted. A 3-second incident against a 30-minute target would otherwise be a
   * column of slivers at the left edge; the caption then says where the target is.
   */
  targetShown: boolean;
  ttrMs: number;
  breached: boolean;
  bars: ChartBar[];
  milestones: ChartMilestone[];
  /** Steps left out in the middle of a very long incident (the report's table has every one). */
  omittedSteps: number;
  /** The time axis, epoch ms. */
  min: number;
  max: number;
}

/** More steps than this and the chart keeps the first and last halves (a row each is still readable). */
export const MAX_CHART_STEPS = 60;

/** A label for a chart row: one line, no longer than `max`. */
export const rowLabel = (text: string, max = 60): string => {
  const one = text.replace(/\s+/g, ' ').trim();
  return one.length > max ? `${one.slice(0, max - 1)}…` : one;
};

/** Durations to the tenth of a second below a minute (the steps are often milliseconds long). */
export function shortDuration(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  return formatDuration(ms);
}

export function chartOf(
  m: ReportModel,
  opts: { now?: Date; secrets?: readonly string[] } = {},
): IncidentChart {
  const now = opts.now ?? new Date();
  const clean = (t: string) => sanitizeText(t, opts.secrets);
  const clock = incidentClock(m, now);
  const detectedAt = Date.parse(clock.detectedAt);
  const closedAt = clock.resolvedAt ?? (m.status !== 'running' ? m.closedAt : undefined);
  const end = closedAt ? Date.parse(closedAt) : now.getTime();

  const { steps, omittedSteps } = stepBars(m, end, clean);
  const waits = waitBars(m, end, clean);
  const milestones = milestonesOf(m, { detectedAt, closed: Boolean(closedAt), end }, clean);
  const bars = [...steps, ...waits];
  const axis = axisOf(bars, milestones, { detectedAt, end, targetMs: clock.targetMs });
  return {
    title: chartTitle(m, clean),
    detectedAt,
    end,
    resolved: Boolean(closedAt),
    targetMs: clock.targetMs,
    targetAt: axis.targetAt,
    targetShown: axis.targetShown,
    ttrMs: clock.ttrMs,
    breached: clock.breached,
    bars,
    milestones,
    omittedSteps,
    min: axis.min,
    max: axis.max,
  };
}

type Clean = (t: string) => string;

/** One bar per activity; past MAX_CHART_STEPS, the first and last halves (the middle is counted). */
function stepBars(m: ReportModel, end: number, clean: Clean): { steps: ChartBar[]; omittedSteps: number } {
  let steps: ChartBar[] = m.activities.map((a, i) => {
    const start = Date.parse(a.scheduledAt);
    const stop = a.closedAt ? Date.parse(a.closedAt) : Math.max(start, end);
    const status = a.outcome === 'completed' ? 'done' : a.closedAt ? 'failed' : 'running';
    return {
      id: `s${i + 1}`,
      kind: 'step',
      label: clean(a.summary ?? a.activityType),
      start,
      end: stop,
      status,
      attempts: a.attempts,
    };
  });
  let omittedSteps = 0;
  if (steps.length > MAX_CHART_STEPS) {
    omittedSteps = steps.length - MAX_CHART_STEPS;
    steps = [...steps.slice(0, MAX_CHART_STEPS / 2), ...steps.slice(-MAX_CHART_STEPS / 2)];
  }
  return { steps, omittedSteps };
}

/** The waits for a person (approvals, confirmations) the incident's clock recorded. */
function waitBars(m: ReportModel, end: number, clean: Clean): ChartBar[] {
  return (m.state?.mttr.waits ?? []).map((w, i) => ({
    id: `w${i + 1}`,
    kind: 'wait',
    label: clean(`Waiting for ${w.what}`),
    start: Date.parse(w.since),
    end: w.until ? Date.parse(w.until) : end,
    status: w.until ? 'done' : 'running',
  }));
}

/** Detected, each escalation, and resolved (or abandoned, or closed) when the incident is closed. */
function milestonesOf(
  m: ReportModel,
  at: { detectedAt: number; closed: boolean; end: number },
  clean: Clean,
): ChartMilestone[] {
  const milestones: ChartMilestone[] = [
    { id: 'detected', kind: 'detected', label: 'Detected', at: at.detectedAt },
    ...escalationsOf(m).map((e, i) => ({
      id: `e${i + 1}`,
      kind: 'escalation' as const,
      label: clean(`Escalated to ${e.tier}`),
      at: Date.parse(e.at),
    })),
  ];
  if (at.closed)
    milestones.push({
      id: 'resolved',
      kind: 'resolved',
      label: m.state?.status === 'abandoned' ? 'Abandoned' : m.state ? 'Resolved' : 'Closed',
      at: at.end,
    });
  return milestones;
}

/**
 * The time axis over every bar and milestone; the MTTR target joins it (as a milestone) unless it
 * lies further right than the chart is wide.
 */
function axisOf(
  bars: ChartBar[],
  milestones: ChartMilestone[],
  t: { detectedAt: number; end: number; targetMs?: number },
): { min: number; max: number; targetAt?: number; targetShown: boolean } {
  const times = [
    t.detectedAt,
    t.end,
    ...bars.flatMap((b) => [b.start, b.end]),
    ...milestones.map((x) => x.at),
  ].filter(Number.isFinite);
  let min = Math.min(...times);
  let max = Math.max(...times);
  const targetAt = t.targetMs !== undefined ? t.detectedAt + t.targetMs : undefined;
  const targetShown = targetAt !== undefined && targetAt - max <= Math.max(max - min, 1000);
  if (targetShown && targetAt !== undefined) {
    max = Math.max(max, targetAt);
    min = Math.min(min, targetAt);
    milestones.push({
      id: 'target',
      kind: 'target',
      label: `MTTR target ${formatDuration(t.targetMs ?? 0)}`,
      at: targetAt,
    });
  }
  if (max - min < 1000) max = min + 1000; // an axis, even for an instant
  return { min, max, targetAt, targetShown };
}

function chartTitle(m: ReportModel, clean: Clean): string {
  const entry = runbookOf(m);
  const target = m.state?.target ?? m.input?.target ?? '?';
  return clean(
    m.state?.title ?? (entry ? `${entry.id} ${entry.name}: ${target}` : `${m.workflowType}: ${target}`),
  );
}

/** One sentence under the chart: time to resolve against the target, and where an off-scale target is. */
export function chartCaption(c: IncidentChart): string {
  const target = c.targetMs !== undefined ? formatDuration(c.targetMs) : '?';
  const verdict = c.breached ? 'BREACHED' : c.resolved ? 'within target' : 'open';
  const parts = [
    `${c.resolved ? 'Time to resolve' : 'Open for'} ${formatDuration(c.ttrMs)} vs MTTR target ${target} (${verdict}).`,
  ];
  if (c.targetAt !== undefined && !c.targetShown)
    parts.push(
      `The target (${new Date(c.targetAt)
        .toISOString()
        .replace('T', ' ')
        .replace(/\.\d+Z$/, 'Z')}) is far beyond the right edge, not drawn.`,
    );
  if (c.omittedSteps)
    parts.push(`${c.omittedSteps} steps in the middle are left out; the table below lists every one.`);
  parts.push('Times in UTC.');
  return parts.join(' ');
}
