/**
 * A compact incident timeline from the workflow history, for `runbooks history`: what started it,
 * every step (activity summaries), timers, signals and updates people and alerts sent, status
 * changes, and how it ended. Secrets (approval codes, tokens, keys) are never printed.
 * The full incident report is client/report's job; this is the terminal's quick look.
 */
import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import { optionalTsToMs } from '@temporalio/common/lib/time';
import type { temporal } from '@temporalio/proto';

type History = temporal.api.history.v1.IHistory;
type Event = temporal.api.history.v1.IHistoryEvent;

export interface TimelineEntry {
  eventId: number;
  at: string;
  kind: string;
  text: string;
}

const SECRET_KEY = /code|secret|token|password|apikey|api_key|key$/i;

/** A payload as plain data with secret-looking fields replaced. */
export function redact(value: unknown, depth = 0): unknown {
  if (depth > 6) return '…';
  if (Array.isArray(value)) return value.map((v) => redact(v, depth + 1));
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value as Record<string, unknown>).map(([k, v]) => [
        k,
        SECRET_KEY.test(k) ? '***' : redact(v, depth + 1),
      ]),
    );
  }
  return value;
}

function decode(payload: Payload | null | undefined): unknown {
  if (!payload) return undefined;
  try {
    return defaultPayloadConverter.fromPayload(payload);
  } catch {
    return '(undecodable payload)';
  }
}

const first = (payloads: { payloads?: Payload[] | null } | null | undefined): unknown =>
  decode(payloads?.payloads?.[0]);

const summaryOf = (e: Event): string | undefined => {
  const s = decode(e.userMetadata?.summary);
  return typeof s === 'string' ? s : undefined;
};

const short = (v: unknown, max = 160): string => {
  const s = typeof v === 'string' ? v : JSON.stringify(redact(v));
  return s === undefined ? '' : s.length > max ? `${s.slice(0, max - 1)}…` : s;
};

const durationText = (d: { seconds?: unknown; nanos?: number | null } | null | undefined): string => {
  const s = Number(d?.seconds ?? 0) + (d?.nanos ?? 0) / 1e9;
  return s >= 3600 ? `${(s / 3600).toFixed(1)} h` : s >= 60 ? `${(s / 60).toFixed(1)} min` : `${s} s`;
};

/** Text for a field of unknown type: strings as they are, anything else as short JSON. */
const str = (v: unknown): string => (typeof v === 'string' ? v : v === undefined ? '' : short(v, 80));

function signalText(name: string, input: unknown): string {
  const o = (input && typeof input === 'object' ? input : {}) as Record<string, unknown>;
  switch (name) {
    case 'alert':
      return `alert ${str(o.status ?? '?')}${o.alertName ? ` ${str(o.alertName)}` : ''}${o.values ? ` ${short(o.values, 80)}` : ''}`;
    case 'resolve':
    case 'abandon':
      return `${name} by ${str(o.by ?? '?')}: ${str(o.reason ?? '')}`;
    case 'approval':
      return `approval ${str(o.decision ?? '?')} by ${str(o.approver ?? '?')}${o.reason ? `: ${str(o.reason)}` : ''} (code not shown)`;
    default:
      return `${name} ${short(input)}`;
  }
}

function searchAttributesText(e: Event): string {
  const fields = e.upsertWorkflowSearchAttributesEventAttributes?.searchAttributes?.indexedFields ?? {};
  return Object.entries(fields)
    .map(([k, p]) => `${k}=${short(decode(p), 60)}`)
    .join(', ');
}

/** What a history event adds to the timeline: [kind, text], or undefined for events it skips. */
type Entry = [kind: string, text: string] | undefined;

/** Names seen earlier in the history, for the events that refer back to them by ID. */
interface Seen {
  scheduled: Map<string, string>;
  timers: Map<string, string>;
  updates: Map<string, string>;
}

/** How the run began and how it ended. */
function executionEntry(e: Event): Entry {
  if (e.workflowExecutionStartedEventAttributes) {
    const a = e.workflowExecutionStartedEventAttributes;
    const input = first(a.input) as { trigger?: Record<string, unknown>; target?: string } | undefined;
    const t = input?.trigger ?? {};
    return [
      'started',
      `${a.workflowType?.name ?? 'workflow'} started on ${input?.target ?? '?'} by ${str(t.source ?? '?')}` +
        `${t.alertName ? ` alert ${str(t.alertName)}` : ''}${t.startedBy ? ` (${str(t.startedBy)})` : ''}` +
        `${t.description ? `: ${short(t.description, 120)}` : ''}`,
    ];
  }
  if (e.workflowExecutionCompletedEventAttributes) {
    const r = first(e.workflowExecutionCompletedEventAttributes.result) as
      { status?: string; outcome?: string } | undefined;
    return [
      'completed',
      `completed${r?.status ? ` as ${r.status}` : ''}${r?.outcome ? `: ${r.outcome}` : ''}`,
    ];
  }
  if (e.workflowExecutionFailedEventAttributes) {
    return [
      'failed',
      `failed: ${short(e.workflowExecutionFailedEventAttributes.failure?.message ?? '', 200)}`,
    ];
  }
  if (e.workflowExecutionTerminatedEventAttributes) {
    const a = e.workflowExecutionTerminatedEventAttributes;
    return [
      'terminated',
      `terminated${a.reason ? `: ${a.reason}` : ''}${a.identity ? ` (by ${a.identity})` : ''}`,
    ];
  }
  if (e.workflowExecutionCanceledEventAttributes) return ['canceled', 'canceled'];
  if (e.workflowExecutionTimedOutEventAttributes) return ['timed-out', 'timed out'];
  if (e.workflowExecutionContinuedAsNewEventAttributes) return ['continued', 'continued as new'];
  return undefined;
}

/** Steps (activities) and timers, named by their summaries. */
function workEntry(e: Event, id: number, seen: Seen): Entry {
  if (e.activityTaskScheduledEventAttributes) {
    const what = summaryOf(e) ?? e.activityTaskScheduledEventAttributes.activityType?.name ?? 'activity';
    seen.scheduled.set(String(id), what);
    return ['step', what];
  }
  if (e.activityTaskCompletedEventAttributes) {
    const what =
      seen.scheduled.get(String(e.activityTaskCompletedEventAttributes.scheduledEventId)) ?? 'activity';
    return ['step-done', `done: ${what}`];
  }
  if (e.activityTaskFailedEventAttributes) {
    const a = e.activityTaskFailedEventAttributes;
    return [
      'step-failed',
      `failed: ${seen.scheduled.get(String(a.scheduledEventId)) ?? 'activity'}: ${short(a.failure?.cause?.message ?? a.failure?.message ?? '', 200)}`,
    ];
  }
  if (e.activityTaskTimedOutEventAttributes) {
    const a = e.activityTaskTimedOutEventAttributes;
    return ['step-failed', `timed out: ${seen.scheduled.get(String(a.scheduledEventId)) ?? 'activity'}`];
  }
  if (e.timerStartedEventAttributes) {
    const a = e.timerStartedEventAttributes;
    const what = summaryOf(e) ?? 'timer';
    seen.timers.set(String(a.timerId), what);
    return ['timer', `timer ${durationText(a.startToFireTimeout)}: ${what}`];
  }
  if (e.timerFiredEventAttributes) {
    return [
      'timer-fired',
      `timer fired: ${seen.timers.get(String(e.timerFiredEventAttributes.timerId)) ?? 'timer'}`,
    ];
  }
  return undefined;
}

/** What people and alerts sent (signals, updates), status changes and child workflows. */
function messageEntry(e: Event, seen: Seen): Entry {
  if (e.workflowExecutionSignaledEventAttributes) {
    const a = e.workflowExecutionSignaledEventAttributes;
    return ['signal', signalText(a.signalName ?? '?', first(a.input))];
  }
  if (e.workflowExecutionUpdateAcceptedEventAttributes) {
    const a = e.workflowExecutionUpdateAcceptedEventAttributes;
    const name = a.acceptedRequest?.input?.name ?? 'update';
    seen.updates.set(String(a.acceptedRequest?.meta?.updateId ?? ''), name);
    return ['update', `update ${signalText(name, first(a.acceptedRequest?.input?.args))}`];
  }
  if (e.workflowExecutionUpdateCompletedEventAttributes) {
    const a = e.workflowExecutionUpdateCompletedEventAttributes;
    const name = seen.updates.get(String(a.meta?.updateId ?? '')) ?? 'update';
    return [
      'update-result',
      a.outcome?.failure
        ? `${name} failed: ${short(a.outcome.failure.message, 200)}`
        : `${name} answered ${short(first(a.outcome?.success))}`,
    ];
  }
  if (e.upsertWorkflowSearchAttributesEventAttributes) return ['status', searchAttributesText(e)];
  if (e.startChildWorkflowExecutionInitiatedEventAttributes) {
    const a = e.startChildWorkflowExecutionInitiatedEventAttributes;
    return ['child', `started ${a.workflowType?.name ?? 'child'} ${a.workflowId ?? ''}`];
  }
  return undefined;
}

/** Each history event holds one kind of attributes (a oneof), so at most one of the three matches. */
export function timelineFromHistory(history: History): TimelineEntry[] {
  const seen: Seen = { scheduled: new Map(), timers: new Map(), updates: new Map() };
  const out: TimelineEntry[] = [];
  for (const e of history.events ?? []) {
    const id = Number(e.eventId ?? 0);
    const ms = optionalTsToMs(e.eventTime);
    const at = ms !== undefined ? new Date(ms).toISOString() : '';
    const entry = executionEntry(e) ?? workEntry(e, id, seen) ?? messageEntry(e, seen);
    if (entry) out.push({ eventId: id, at, kind: entry[0], text: entry[1] });
  }
  return out;
}

export function formatTimeline(entries: TimelineEntry[]): string {
  return entries
    .map((e) => `${e.at.replace('T', ' ').replace(/\.\d+Z$/, 'Z')}  ${e.kind.padEnd(13)} ${e.text}`)
    .join('\n');
}
