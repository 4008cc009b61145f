/**
 * A workflow history read into what an incident report needs: the input (trigger), every activity
 * (scheduled, attempts, completed / failed with its result), timers with their summaries, signals
 * and updates (payloads sanitized), status changes, the child follow-up, and how the run ended.
 * Works on running, completed, failed and terminated histories alike.
 */
import { defaultPayloadConverter } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import type { History } from './history';
import { sanitizeText, sanitizeValue } from './sanitize';
import type { IncidentInput, IncidentState } from '../../definitions/types';

const ET = temporal.api.enums.v1.EventType;
type Event = temporal.api.history.v1.IHistoryEvent;
type Payload = temporal.api.common.v1.IPayload;

export type RunStatus =
  'running' | 'completed' | 'failed' | 'terminated' | 'canceled' | 'timed-out' | 'continued-as-new';

export interface ActivityRow {
  scheduledEventId: number;
  activityType: string;
  summary?: string;
  input?: unknown;
  scheduledAt: string;
  attempts: number;
  outcome: 'scheduled' | 'started' | 'completed' | 'failed' | 'timed-out' | 'canceled';
  closedAt?: string;
  result?: unknown;
  error?: string;
}

export interface TimelineEntry {
  at: string;
  kind:
    | 'started'
    | 'activity-scheduled'
    | 'activity-completed'
    | 'activity-failed'
    | 'timer-started'
    | 'timer-fired'
    | 'signal'
    | 'update'
    | 'status'
    | 'child'
    | 'workflow-task-failed'
    | 'closed';
  text: string;
  /** The activity this entry belongs to, for the key result. */
  activity?: ActivityRow;
}

export interface SignalRow {
  at: string;
  name: string;
  kind: 'signal' | 'update';
  identity?: string;
  payload: unknown;
  /** For updates: accepted/completed outcome. */
  outcome?: string;
}

export interface ReportModel {
  workflowId?: string;
  runId?: string;
  workflowType: string;
  taskQueue?: string;
  startedAt: string;
  startedBy?: string;
  closedAt?: string;
  status: RunStatus;
  /** Why the run failed or was terminated. */
  closeReason?: string;
  input?: IncidentInput;
  /** The incident state: the run's result when it completed, else a live query or a caller's copy. */
  state?: IncidentState;
  activities: ActivityRow[];
  timeline: TimelineEntry[];
  signals: SignalRow[];
  children: { workflowId: string; workflowType: string; at: string }[];
  workflowTaskFailures: { at: string; message: string }[];
}

export function tsToIso(ts: temporal.api.history.v1.IHistoryEvent['eventTime']): string {
  if (!ts) return '';
  const seconds = Number(ts.seconds?.toString() ?? 0);
  return new Date(seconds * 1000 + Math.floor((ts.nanos ?? 0) / 1e6)).toISOString();
}

export function decodePayload(p: Payload | null | undefined): unknown {
  if (!p) return undefined;
  try {
    return defaultPayloadConverter.fromPayload(p);
  } catch {
    return '[unreadable payload]';
  }
}

const first = (ps: { payloads?: Payload[] | null } | null | undefined): unknown =>
  decodePayload(ps?.payloads?.[0]);

const all = (ps: { payloads?: Payload[] | null } | null | undefined): unknown[] =>
  (ps?.payloads ?? []).map((p) => decodePayload(p));

const summaryOf = (e: Event): string | undefined => {
  const s = decodePayload(e.userMetadata?.summary);
  return typeof s === 'string' ? s : undefined;
};

type Failure = temporal.api.failure.v1.IFailure | null | undefined;

/** The innermost useful message of a failure chain, with its type. */
export function failureMessage(f: Failure): string {
  if (!f) return 'unknown failure';
  let cur: temporal.api.failure.v1.IFailure = f;
  // Activity failures wrap the application failure: the cause says what went wrong.
  while (cur.cause && (cur.activityFailureInfo || cur.childWorkflowExecutionFailureInfo || !cur.message))
    cur = cur.cause;
  const type = cur.applicationFailureInfo?.type;
  const timeout = cur.timeoutFailureInfo ? 'timeout' : undefined;
  return `${type ?? timeout ?? 'error'}: ${cur.message ?? ''}`.trim();
}

const eventId = (e: Event) => Number(e.eventId?.toString() ?? 0);
const num = (v: unknown) => Number((v as { toString(): string } | null | undefined)?.toString() ?? 0);

const durationText = (
  d: temporal.api.history.v1.ITimerStartedEventAttributes['startToFireTimeout'],
): string => {
  const ms = num(d?.seconds) * 1000 + Math.floor((d?.nanos ?? 0) / 1e6);
  return formatDuration(ms);
};

export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return '?';
  const neg = ms < 0;
  let s = Math.round(Math.abs(ms) / 1000);
  const d = Math.floor(s / 86400);
  s -= d * 86400;
  const h = Math.floor(s / 3600);
  s -= h * 3600;
  const m = Math.floor(s / 60);
  s -= m * 60;
  const parts = [d && `${d}d`, h && `${h}h`, m && `${m}m`, (s || (!d && !h && !m)) && `${s}s`].filter(
    Boolean,
  );
  return `${neg ? '-' : ''}${parts.join(' ')}`;
}

export function buildModel(history: History, opts: { secrets?: readonly string[] } = {}): ReportModel {
  const secrets = opts.secrets ?? [];
  const clean = <T>(v: T): T => sanitizeValue(v, secrets) as T;
  const events = history.events ?? [];
  const model: ReportModel = {
    workflowType: 'unknown',
    startedAt: '',
    status: 'running',
    activities: [],
    timeline: [],
    signals: [],
    children: [],
    workflowTaskFailures: [],
  };
  const activities = new Map<number, ActivityRow>();
  const timers = new Map<string, { summary?: string; duration: string }>();
  const updates = new Map<string, SignalRow>();
  const push = (at: string, kind: TimelineEntry['kind'], text: string, activity?: ActivityRow) =>
    model.timeline.push({ at, kind, text: sanitizeText(text, secrets), activity });

  for (const e of events) {
    const at = tsToIso(e.eventTime);
    switch (e.eventType) {
      case ET.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED: {
        const a = e.workflowExecutionStartedEventAttributes!;
        model.workflowType = a.workflowType?.name ?? 'unknown';
        model.taskQueue = a.taskQueue?.name ?? undefined;
        model.startedAt = at;
        model.startedBy = a.identity ?? undefined;
        model.runId = a.originalExecutionRunId ?? undefined;
        model.input = clean(first(a.input) as IncidentInput | undefined);
        push(at, 'started', `Workflow ${model.workflowType} started${a.identity ? ` by ${a.identity}` : ''}`);
        break;
      }
      case ET.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED: {
        const a = e.activityTaskScheduledEventAttributes!;
        const row: ActivityRow = {
          scheduledEventId: eventId(e),
          activityType: a.activityType?.name ?? 'activity',
          summary: summaryOf(e),
          input: clean(first(a.input)),
          scheduledAt: at,
          attempts: 0,
          outcome: 'scheduled',
        };
        activities.set(row.scheduledEventId, row);
        model.activities.push(row);
        push(at, 'activity-scheduled', row.summary ?? row.activityType, row);
        break;
      }
      case ET.EVENT_TYPE_ACTIVITY_TASK_STARTED: {
        const a = e.activityTaskStartedEventAttributes!;
        const row = activities.get(num(a.scheduledEventId));
        if (row) {
          row.attempts = Math.max(row.attempts, a.attempt ?? 1);
          row.outcome = 'started';
          // A retried activity's last failure is reported on its started event.
          if (a.lastFailure) row.error = failureMessage(a.lastFailure);
        }
        break;
      }
      case ET.EVENT_TYPE_ACTIVITY_TASK_COMPLETED: {
        const a = e.activityTaskCompletedEventAttributes!;
        const row = activities.get(num(a.scheduledEventId));
        if (row) {
          Object.assign(row, {
            outcome: 'completed',
            closedAt: at,
            result: clean(first(a.result)),
            error: undefined,
          });
          push(at, 'activity-completed', row.summary ?? row.activityType, row);
        }
        break;
      }
      case ET.EVENT_TYPE_ACTIVITY_TASK_FAILED:
      case ET.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT: {
        const a = e.activityTaskFailedEventAttributes ?? e.activityTaskTimedOutEventAttributes!;
        const row = activities.get(num(a.scheduledEventId));
        if (row) {
          row.outcome = e.eventType === ET.EVENT_TYPE_ACTIVITY_TASK_FAILED ? 'failed' : 'timed-out';
          row.closedAt = at;
          row.error = sanitizeText(failureMessage(a.failure), secrets);
          push(at, 'activity-failed', row.summary ?? row.activityType, row);
        }
        break;
      }
      case ET.EVENT_TYPE_ACTIVITY_TASK_CANCELED: {
        const a = e.activityTaskCanceledEventAttributes!;
        const row = activities.get(num(a.scheduledEventId));
        if (row) Object.assign(row, { outcome: 'canceled', closedAt: at });
        break;
      }
      case ET.EVENT_TYPE_TIMER_STARTED: {
        const a = e.timerStartedEventAttributes!;
        const t = { summary: summaryOf(e), duration: durationText(a.startToFireTimeout) };
        timers.set(a.timerId ?? '', t);
        push(at, 'timer-started', `Timer ${t.duration}${t.summary ? `: ${t.summary}` : ''}`);
        break;
      }
      case ET.EVENT_TYPE_TIMER_FIRED: {
        const a = e.timerFiredEventAttributes!;
        const t = timers.get(a.timerId ?? '');
        push(at, 'timer-fired', `Timer fired (${t?.duration ?? '?'})${t?.summary ? `: ${t.summary}` : ''}`);
        break;
      }
      case ET.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED: {
        const a = e.workflowExecutionSignaledEventAttributes!;
        const args = all(a.input);
        const row: SignalRow = {
          at,
          name: a.signalName ?? 'signal',
          kind: 'signal',
          identity: a.identity ?? undefined,
          payload: clean(args.length <= 1 ? args[0] : args),
        };
        model.signals.push(row);
        push(at, 'signal', `Signal \`${row.name}\`${row.identity ? ` from ${row.identity}` : ''}`);
        break;
      }
      case ET.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED: {
        const a = e.workflowExecutionUpdateAcceptedEventAttributes!;
        const req = a.acceptedRequest;
        const args = all(req?.input?.args);
        const row: SignalRow = {
          at,
          name: req?.input?.name ?? 'update',
          kind: 'update',
          identity: req?.meta?.identity ?? undefined,
          payload: clean(args.length <= 1 ? args[0] : args),
          outcome: 'accepted',
        };
        updates.set(a.protocolInstanceId ?? '', row);
        model.signals.push(row);
        push(at, 'update', `Update \`${row.name}\`${row.identity ? ` from ${row.identity}` : ''}`);
        break;
      }
      case ET.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED: {
        const a = e.workflowExecutionUpdateCompletedEventAttributes!;
        const row = updates.get(a.meta?.updateId ?? '') ?? [...updates.values()].at(-1);
        if (row) {
          row.outcome = a.outcome?.failure
            ? `rejected: ${sanitizeText(failureMessage(a.outcome.failure), secrets)}`
            : 'completed';
        }
        break;
      }
      case ET.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES: {
        const fields = e.upsertWorkflowSearchAttributesEventAttributes?.searchAttributes?.indexedFields ?? {};
        const status = fields.IncidentStatus ? decodePayload(fields.IncidentStatus) : undefined;
        if (typeof status === 'string') push(at, 'status', `Status → ${status}`);
        break;
      }
      case ET.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED: {
        const a = e.startChildWorkflowExecutionInitiatedEventAttributes!;
        model.children.push({ workflowId: a.workflowId ?? '', workflowType: a.workflowType?.name ?? '', at });
        push(at, 'child', `Start ${a.workflowType?.name ?? 'child'} \`${a.workflowId ?? ''}\``);
        break;
      }
      case ET.EVENT_TYPE_WORKFLOW_TASK_FAILED: {
        const a = e.workflowTaskFailedEventAttributes!;
        const message = sanitizeText(failureMessage(a.failure), secrets);
        model.workflowTaskFailures.push({ at, message });
        push(at, 'workflow-task-failed', `Workflow task failed: ${message}`);
        break;
      }
      case ET.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED: {
        model.status = 'completed';
        model.closedAt = at;
        const result = first(e.workflowExecutionCompletedEventAttributes?.result);
        if (result && typeof result === 'object' && 'incidentId' in result)
          model.state = clean(result as IncidentState);
        push(at, 'closed', 'Workflow completed');
        break;
      }
      case ET.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED:
        model.status = 'failed';
        model.closedAt = at;
        model.closeReason = sanitizeText(
          failureMessage(e.workflowExecutionFailedEventAttributes?.failure),
          secrets,
        );
        push(at, 'closed', `Workflow failed: ${model.closeReason}`);
        break;
      case ET.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED: {
        const a = e.workflowExecutionTerminatedEventAttributes!;
        model.status = 'terminated';
        model.closedAt = at;
        model.closeReason = sanitizeText(
          `${a.reason ?? 'no reason given'}${a.identity ? ` (by ${a.identity})` : ''}`,
          secrets,
        );
        push(at, 'closed', `Workflow terminated: ${model.closeReason}`);
        break;
      }
      case ET.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED:
        model.status = 'canceled';
        model.closedAt = at;
        push(at, 'closed', 'Workflow canceled');
        break;
      case ET.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT:
        model.status = 'timed-out';
        model.closedAt = at;
        push(at, 'closed', 'Workflow timed out');
        break;
      case ET.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW:
        model.status = 'continued-as-new';
        model.closedAt = at;
        push(at, 'closed', 'Workflow continued as new');
        break;
      default:
        break;
    }
  }
  return model;
}
