/**
 * What the Markdown report and the timeline chart both read off the model: which runbook it is, the
 * MTTR clock (detected, target, resolved, time to resolve) and the escalations. One derivation, so
 * the chart's target line and the report's "within target" never disagree.
 */
import { RUNBOOKS, isRunbookId, type RunbookEntry } from '../../definitions/catalog';
import { MTTR_TARGET_MS } from '../../definitions/policies/common';
import type { EscalationRecord, Severity } from '../../definitions/types';
import type { ReportModel } from './model';

const obj = (v: unknown): Record<string, unknown> | undefined =>
  v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;

const str = (v: unknown, fallback = ''): string =>
  v === undefined || v === null ? fallback : typeof v === 'string' ? v : JSON.stringify(v);

/** The runbook's catalog entry: from the state, else the workflow type. */
export function runbookOf(m: ReportModel): RunbookEntry | undefined {
  const id = m.state?.runbook ?? (m.workflowType === 'systemDown' ? 'P0-1' : undefined);
  return id && isRunbookId(id)
    ? RUNBOOKS[id]
    : Object.values(RUNBOOKS).find((r) => r.workflowType === m.workflowType);
}

export interface IncidentClock {
  severity?: Severity;
  detectedAt: string;
  targetMs?: number;
  /** Unset while the incident is open. */
  resolvedAt?: string;
  /** Time to resolve, or open for so far (to `now`). */
  ttrMs: number;
  breached: boolean;
}

export function incidentClock(m: ReportModel, now: Date = new Date()): IncidentClock {
  const s = m.state;
  const severity = s?.severity ?? runbookOf(m)?.severity;
  const targetMs = s?.mttr.targetMs ?? (severity ? MTTR_TARGET_MS[severity] : undefined);
  const detectedAt = s?.mttr.detectedAt ?? (s?.trigger ?? m.input?.trigger)?.startsAt ?? m.startedAt;
  const resolvedAt = s?.mttr.resolvedAt ?? (m.status !== 'running' ? m.closedAt : undefined);
  const ttrMs =
    s?.mttr.timeToResolveMs ?? (resolvedAt ? Date.parse(resolvedAt) : now.getTime()) - Date.parse(detectedAt);
  const breached = resolvedAt
    ? (s?.mttr.breached ?? (targetMs !== undefined && ttrMs > targetMs))
    : targetMs !== undefined && ttrMs > targetMs;
  return { severity, detectedAt, targetMs, resolvedAt, ttrMs, breached };
}

/** Escalations from the state when there is one, else from the page activities in the history. */
export function escalationsOf(m: ReportModel): EscalationRecord[] {
  if (m.state?.escalations) return m.state.escalations;
  return m.activities
    .filter((a) => a.activityType === 'page')
    .map((a) => {
      const input = obj(a.input) ?? {};
      const r = obj(a.result);
      return {
        at: a.closedAt ?? a.scheduledAt,
        tier: str(input.tier, '?'),
        reason: a.summary ?? str(input.summary),
        delivered: (r?.delivered as string[] | undefined) ?? [],
        failed: a.outcome === 'failed' ? [{ channel: 'all', error: a.error ?? '' }] : [],
      };
    });
}
