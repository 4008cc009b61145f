/**
 * The incident report library: history (from the client or an exported JSON file) → Markdown, and
 * the timeline picture as SVG.
 *
 *   const md = await generateIncidentReport(client, 'incident-P0-1-accubooks-api');
 *   const md = await reportFromFile('history.json', { workflowId: '…' });
 *   const svg = timelineSvg(modelFromHistory(await historyFromFile('history.json')));
 *
 * Running incidents are reported as of now (their live state is read by the `state` query when a
 * worker answers); completed ones use the state the workflow returned.
 */
import type { Client } from '@temporalio/client';
import { RUNBOOKS } from '../../definitions/catalog';
import type { IncidentState } from '../../definitions/types';
import { fetchIncidentHistory, historyFromFile, parseHistoryJson, type History } from './history';
import { buildModel, type ReportModel, type TimelineEntry } from './model';
import { chartOf } from './chart';
import { renderReport } from './render';
import { renderTimelineSvg } from './svg';
import { sanitizeValue } from './sanitize';

export { buildModel, parseHistoryJson, historyFromFile, fetchIncidentHistory, renderReport };
export type { ReportModel, History };

export interface ReportOptions {
  workflowId?: string;
  /** Exact secret values to keep out of the report (e.g. secretsOf(config)), on top of the built-in rules. */
  secrets?: readonly string[];
  /** The incident's state when the history has none yet (running incident; the follow-up's copy). */
  state?: IncidentState;
  now?: Date;
}

/** The report's model of a history, with the state a caller supplies when the history has none yet. */
export function modelFromHistory(history: History, opts: ReportOptions = {}): ReportModel {
  const model = buildModel(history, { secrets: opts.secrets });
  model.workflowId = opts.workflowId ?? model.workflowId;
  if (!model.state && opts.state) model.state = sanitizeValue(opts.state, opts.secrets) as IncidentState;
  return model;
}

export function reportFromHistory(history: History, opts: ReportOptions = {}): string {
  return renderReport(modelFromHistory(history, opts), { now: opts.now, secrets: opts.secrets });
}

export async function reportFromFile(path: string, opts: ReportOptions = {}): Promise<string> {
  return reportFromHistory(await historyFromFile(path), opts);
}

/** The incident's timeline as an SVG picture (the same rows as the report's Mermaid chart). */
export function timelineSvg(model: ReportModel, opts: Pick<ReportOptions, 'now' | 'secrets'> = {}): string {
  return renderTimelineSvg(chartOf(model, opts));
}

export interface ClientReportOptions extends Omit<ReportOptions, 'workflowId'> {
  runId?: string;
  /** Ask a running incident for its live state (needs a worker); default true. */
  queryLiveState?: boolean;
}

/** The report's model of an incident read through the client (live state of a running one included). */
export async function loadIncidentModel(
  client: Client,
  workflowId: string,
  opts: ClientReportOptions = {},
): Promise<ReportModel> {
  const history = await fetchIncidentHistory(client, workflowId, opts.runId);
  const model = buildModel(history, { secrets: opts.secrets });
  model.workflowId = workflowId;
  let state = opts.state;
  if (!model.state && !state && model.status === 'running' && opts.queryLiveState !== false) {
    try {
      state = await client.workflow.getHandle(workflowId, model.runId).query<IncidentState>('state');
    } catch {
      // No worker answering: the history alone still tells the story.
    }
  }
  if (!model.state && state) model.state = sanitizeValue(state, opts.secrets) as IncidentState;
  return model;
}

export async function generateIncidentReport(
  client: Client,
  workflowId: string,
  opts: ClientReportOptions = {},
): Promise<string> {
  const model = await loadIncidentModel(client, workflowId, opts);
  return renderReport(model, { now: opts.now, secrets: opts.secrets });
}

/** A report from the incident's state alone (no history at hand): steps, escalations, decisions. */
export function reportFromState(state: IncidentState, opts: ReportOptions = {}): string {
  const s = sanitizeValue(state, opts.secrets) as IncidentState;
  const timeline: TimelineEntry[] = [
    ...s.steps.map((st) => ({
      at: st.startedAt,
      kind: 'status' as const,
      text: `${st.title}: ${st.status}${st.result ? ` — ${st.result}` : ''}${st.error ? ` — ERROR ${st.error}` : ''}`,
    })),
    ...s.escalations.map((e) => ({
      at: e.at,
      kind: 'status' as const,
      text: `Escalated to ${e.tier}: ${e.reason}`,
    })),
  ].sort((a, b) => a.at.localeCompare(b.at));
  const closed = s.status === 'resolved' || s.status === 'abandoned';
  const model: ReportModel = {
    workflowId: opts.workflowId,
    workflowType: RUNBOOKS[s.runbook]?.workflowType ?? 'unknown',
    startedAt: s.mttr.remediationStartedAt,
    closedAt: s.mttr.resolvedAt,
    status: closed ? 'completed' : 'running',
    state: s,
    activities: [],
    timeline,
    signals: [],
    children: [],
    workflowTaskFailures: [],
    builds: [],
  };
  return renderReport(model, { now: opts.now, secrets: opts.secrets });
}
