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

export function timelineFromHistory(history: History): TimelineEntry[] {
  const scheduled = new Map<string, string>();
  const timers = new Map<string, string>();
  const updates = new Map<string, string>();
  const out: TimelineEntry[] = [];
  for (const e of history.events ?? []) {
    const id = Number(e.eventId ?? 0);
    const ms = optionalTsToMs(e.eventTime);
    const at = ms !== undefined ? new Date(ms).toISOString() : '';
    const push = (kind: string, text: string) => out.push({ eventId: id, at, kind, text });

    if (e.workflowExecutionStartedEventAttributes) {
      const a = e.workflowExecutionStartedEventAttributes;
      const input = first(a.input) as { trigger?: Record<string, unknown>; target?: string } | undefined;
      const t = input?.trigger ?? {};
      push(
        'started',
        `${a.workflowType?.name ?? 'workflow'} started on ${input?.target ?? '?'} by ${str(t.source ?? '?')}` +
          `${t.alertName ? ` alert ${str(t.alertName)}` : ''}${t.startedBy ? ` (${str(t.startedBy)})` : ''}` +
          `${t.description ? `: ${short(t.description, 120)}` : ''}`,
      );
    } else if (e.activityTaskScheduledEventAttributes) {
      const a = e.activityTaskScheduledEventAttributes;
      const what = summaryOf(e) ?? a.activityType?.name ?? 'activity';
      scheduled.set(String(id), what);
      push('step', what);
    } else if (e.activityTaskCompletedEventAttributes) {
      const what =
        scheduled.get(String(e.activityTaskCompletedEventAttributes.scheduledEventId)) ?? 'activity';
      push('step-done', `done: ${what}`);
    } else if (e.activityTaskFailedEventAttributes) {
      const a = e.activityTaskFailedEventAttributes;
      push(
        'step-failed',
        `failed: ${scheduled.get(String(a.scheduledEventId)) ?? 'activity'}: ${short(a.failure?.cause?.message ?? a.failure?.message ?? '', 200)}`,
      );
    } else if (e.activityTaskTimedOutEventAttributes) {
      const a = e.activityTaskTimedOutEventAttributes;
      push('step-failed', `timed out: ${scheduled.get(String(a.scheduledEventId)) ?? 'activity'}`);
    } else if (e.timerStartedEventAttributes) {
      const a = e.timerStartedEventAttributes;
      const what = summaryOf(e) ?? 'timer';
      timers.set(String(a.timerId), what);
      push('timer', `timer ${durationText(a.startToFireTimeout)}: ${what}`);
    } else if (e.timerFiredEventAttributes) {
      push(
        'timer-fired',
        `timer fired: ${timers.get(String(e.timerFiredEventAttributes.timerId)) ?? 'timer'}`,
      );
    } else if (e.workflowExecutionSignaledEventAttributes) {
      const a = e.workflowExecutionSignaledEventAttributes;
      push('signal', signalText(a.signalName ?? '?', first(a.input)));
    } else if (e.workflowExecutionUpdateAcceptedEventAttributes) {
      const a = e.workflowExecutionUpdateAcceptedEventAttributes;
      const name = a.acceptedRequest?.input?.name ?? 'update';
      updates.set(String(a.acceptedRequest?.meta?.updateId ?? ''), name);
      push('update', `update ${signalText(name, first(a.acceptedRequest?.input?.args))}`);
    } else if (e.workflowExecutionUpdateCompletedEventAttributes) {
      const a = e.workflowExecutionUpdateCompletedEventAttributes;
      const name = updates.get(String(a.meta?.updateId ?? '')) ?? 'update';
      push(
        'update-result',
        a.outcome?.failure
          ? `${name} failed: ${short(a.outcome.failure.message, 200)}`
          : `${name} answered ${short(first(a.outcome?.success))}`,
      );
    } else if (e.upsertWorkflowSearchAttributesEventAttributes) {
      push('status', searchAttributesText(e));
    } else if (e.startChildWorkflowExecutionInitiatedEventAttributes) {
      const a = e.startChildWorkflowExecutionInitiatedEventAttributes;
      push('child', `started ${a.workflowType?.name ?? 'child'} ${a.workflowId ?? ''}`);
    } else if (e.workflowExecutionCompletedEventAttributes) {
      const r = first(e.workflowExecutionCompletedEventAttributes.result) as
        { status?: string; outcome?: string } | undefined;
      push(
        'completed',
        `completed${r?.status ? ` as ${r.status}` : ''}${r?.outcome ? `: ${r.outcome}` : ''}`,
      );
    } else if (e.workflowExecutionFailedEventAttributes) {
      push(
        'failed',
        `failed: ${short(e.workflowExecutionFailedEventAttributes.failure?.message ?? '', 200)}`,
      );
    } else if (e.workflowExecutionTerminatedEventAttributes) {
      const a = e.workflowExecutionTerminatedEventAttributes;
      push(
        'terminated',
        `terminated${a.reason ? `: ${a.reason}` : ''}${a.identity ? ` (by ${a.identity})` : ''}`,
      );
    } else if (e.workflowExecutionCanceledEventAttributes) {
      push('canceled', 'canceled');
    } else if (e.workflowExecutionTimedOutEventAttributes) {
      push('timed-out', 'timed out');
    } else if (e.workflowExecutionContinuedAsNewEventAttributes) {
      push('continued', 'continued as new');
    }
  }
  return out;
}

export function formatTimeline(entries: TimelineEntry[]): string {
  return entries
    .map((e) => `${e.at.replace('T', ' ').replace(/\.\d+Z$/, 'Z')}  ${e.kind.padEnd(13)} ${e.text}`)
    .join('\n');
}
