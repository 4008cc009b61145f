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
const PINNED = temporal.api.enums.v1.VersioningBehavior.VERSIONING_BEHAVIOR_PINNED;
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
  /**
   * The worker builds that ran it (issue 22), in order: the Worker Deployment version (or, unversioned,
   * the worker's build ID) of each completed workflow task. A pinned incident has one.
   */
  builds: { buildId: string; deployment?: string; pinned: boolean }[];
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

/** What the event readers share while a history is read: the model and the open rows. */
interface Build {
  model: ReportModel;
  activities: Map<number, ActivityRow>;
  timers: Map<string, { summary?: string; duration: string }>;
  updates: Map<string, SignalRow>;
  secrets: readonly string[];
  clean<T>(v: T): T;
  push(at: string, kind: TimelineEntry['kind'], text: string, activity?: ActivityRow): void;
}

/** Each event type has one reader; the others return false. */
const EVENT_READERS = [readRunEvent, readActivityEvent, readMessageEvent, readCloseEvent];

export function buildModel(history: History, opts: { secrets?: readonly string[] } = {}): ReportModel {
  const secrets = opts.secrets ?? [];
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
    builds: [],
  };
  const b: Build = {
    model,
    activities: new Map(),
    timers: new Map(),
    updates: new Map(),
    secrets,
    clean: <T>(v: T): T => sanitizeValue(v, secrets) as T,
    push: (at, kind, text, activity) => {
      model.timeline.push({ at, kind, text: sanitizeText(text, secrets), activity });
    },
  };
  for (const e of events) {
    const at = tsToIso(e.eventTime);
    EVENT_READERS.some((read) => read(b, e, at));
  }
  return model;
}

/** The run itself: its start, status changes (search attributes), child workflows, failed workflow tasks. */
function readRunEvent(b: Build, e: Event, at: string): boolean {
  switch (e.eventType) {
    case ET.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED: {
      const a = e.workflowExecutionStartedEventAttributes!;
      b.model.workflowType = a.workflowType?.name ?? 'unknown';
      b.model.taskQueue = a.taskQueue?.name ?? undefined;
      b.model.startedAt = at;
      b.model.startedBy = a.identity ?? undefined;
      b.model.runId = a.originalExecutionRunId ?? undefined;
      b.model.input = b.clean(first(a.input) as IncidentInput | undefined);
      b.push(
        at,
        'started',
        `Workflow ${b.model.workflowType} started${a.identity ? ` by ${a.identity}` : ''}`,
      );
      return true;
    }
    case ET.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES: {
      const fields = e.upsertWorkflowSearchAttributesEventAttributes?.searchAttributes?.indexedFields ?? {};
      const status = fields.IncidentStatus ? decodePayload(fields.IncidentStatus) : undefined;
      if (typeof status === 'string') b.push(at, 'status', `Status → ${status}`);
      return true;
    }
    case ET.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED: {
      const a = e.startChildWorkflowExecutionInitiatedEventAttributes!;
      b.model.children.push({ workflowId: a.workflowId ?? '', workflowType: a.workflowType?.name ?? '', at });
      b.push(at, 'child', `Start ${a.workflowType?.name ?? 'child'} \`${a.workflowId ?? ''}\``);
      return true;
    }
    case ET.EVENT_TYPE_WORKFLOW_TASK_COMPLETED: {
      const a = e.workflowTaskCompletedEventAttributes!;
      const buildId = a.deploymentVersion?.buildId ?? a.workerVersion?.buildId;
      const deployment = a.deploymentVersion?.deploymentName ?? undefined;
      if (buildId && !b.model.builds.some((x) => x.buildId === buildId && x.deployment === deployment))
        b.model.builds.push({ buildId, deployment, pinned: a.versioningBehavior === PINNED });
      return true;
    }
    case ET.EVENT_TYPE_WORKFLOW_TASK_FAILED: {
      const a = e.workflowTaskFailedEventAttributes!;
      const message = sanitizeText(failureMessage(a.failure), b.secrets);
      b.model.workflowTaskFailures.push({ at, message });
      b.push(at, 'workflow-task-failed', `Workflow task failed: ${message}`);
      return true;
    }
    default:
      return false;
  }
}

/** Activities: scheduled, started (attempts, the last failure of a retried one), completed, failed or timed out, canceled. */
function readActivityEvent(b: Build, e: Event, at: string): boolean {
  switch (e.eventType) {
    case ET.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED: {
      const a = e.activityTaskScheduledEventAttributes!;
      const row: ActivityRow = {
        scheduledEventId: eventId(e),
        activityType: a.activityType?.name ?? 'activity',
        summary: summaryOf(e),
        input: b.clean(first(a.input)),
        scheduledAt: at,
        attempts: 0,
        outcome: 'scheduled',
      };
      b.activities.set(row.scheduledEventId, row);
      b.model.activities.push(row);
      b.push(at, 'activity-scheduled', row.summary ?? row.activityType, row);
      return true;
    }
    case ET.EVENT_TYPE_ACTIVITY_TASK_STARTED: {
      const a = e.activityTaskStartedEventAttributes!;
      const row = b.activities.get(num(a.scheduledEventId));
      if (row) {
        row.attempts = Math.max(row.attempts, a.attempt ?? 1);
        row.outcome = 'started';
        // A retried activity's last failure is reported on its started event.
        if (a.lastFailure) row.error = failureMessage(a.lastFailure);
      }
      return true;
    }
    case ET.EVENT_TYPE_ACTIVITY_TASK_COMPLETED: {
      const a = e.activityTaskCompletedEventAttributes!;
      const row = b.activities.get(num(a.scheduledEventId));
      if (row) {
        Object.assign(row, {
          outcome: 'completed',
          closedAt: at,
          result: b.clean(first(a.result)),
          error: undefined,
        });
        b.push(at, 'activity-completed', row.summary ?? row.activityType, row);
      }
      return true;
    }
    case ET.EVENT_TYPE_ACTIVITY_TASK_FAILED:
    case ET.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT: {
      const a = e.activityTaskFailedEventAttributes ?? e.activityTaskTimedOutEventAttributes!;
      const row = b.activities.get(num(a.scheduledEventId));
      if (row) {
        row.outcome = e.eventType === ET.EVENT_TYPE_ACTIVITY_TASK_FAILED ? 'failed' : 'timed-out';
        row.closedAt = at;
        row.error = sanitizeText(failureMessage(a.failure), b.secrets);
        b.push(at, 'activity-failed', row.summary ?? row.activityType, row);
      }
      return true;
    }
    case ET.EVENT_TYPE_ACTIVITY_TASK_CANCELED: {
      const a = e.activityTaskCanceledEventAttributes!;
      const row = b.activities.get(num(a.scheduledEventId));
      if (row) Object.assign(row, { outcome: 'canceled', closedAt: at });
      return true;
    }
    default:
      return false;
  }
}

/** Timers with their summaries, and signals and updates with their (sanitized) payloads. */
function readMessageEvent(b: Build, e: Event, at: string): boolean {
  switch (e.eventType) {
    case ET.EVENT_TYPE_TIMER_STARTED: {
      const a = e.timerStartedEventAttributes!;
      const t = { summary: summaryOf(e), duration: durationText(a.startToFireTimeout) };
      b.timers.set(a.timerId ?? '', t);
      b.push(at, 'timer-started', `Timer ${t.duration}${t.summary ? `: ${t.summary}` : ''}`);
      return true;
    }
    case ET.EVENT_TYPE_TIMER_FIRED: {
      const a = e.timerFiredEventAttributes!;
      const t = b.timers.get(a.timerId ?? '');
      b.push(at, 'timer-fired', `Timer fired (${t?.duration ?? '?'})${t?.summary ? `: ${t.summary}` : ''}`);
      return true;
    }
    case ET.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED: {
      const a = e.workflowExecutionSignaledEventAttributes!;
      const args = all(a.input);
      const row: SignalRow = {
        at,
        name: a.signalName ?? 'signal',
        kind: 'signal',
        identity: a.identity ?? undefined,
        payload: b.clean(args.length <= 1 ? args[0] : args),
      };
      b.model.signals.push(row);
      b.push(at, 'signal', `Signal \`${row.name}\`${row.identity ? ` from ${row.identity}` : ''}`);
      return true;
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
        payload: b.clean(args.length <= 1 ? args[0] : args),
        outcome: 'accepted',
      };
      b.updates.set(a.protocolInstanceId ?? '', row);
      b.model.signals.push(row);
      b.push(at, 'update', `Update \`${row.name}\`${row.identity ? ` from ${row.identity}` : ''}`);
      return true;
    }
    case ET.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED: {
      const a = e.workflowExecutionUpdateCompletedEventAttributes!;
      const row = b.updates.get(a.meta?.updateId ?? '') ?? [...b.updates.values()].at(-1);
      if (row) {
        row.outcome = a.outcome?.failure
          ? `rejected: ${sanitizeText(failureMessage(a.outcome.failure), b.secrets)}`
          : 'completed';
      }
      return true;
    }
    default:
      return false;
  }
}

/** How the run ended, and the incident state when it completed with one. */
function readCloseEvent(b: Build, e: Event, at: string): boolean {
  switch (e.eventType) {
    case ET.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED: {
      b.model.status = 'completed';
      b.model.closedAt = at;
      const result = first(e.workflowExecutionCompletedEventAttributes?.result);
      if (result && typeof result === 'object' && 'incidentId' in result)
        b.model.state = b.clean(result as IncidentState);
      b.push(at, 'closed', 'Workflow completed');
      return true;
    }
    case ET.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED:
      b.model.status = 'failed';
      b.model.closedAt = at;
      b.model.closeReason = sanitizeText(
        failureMessage(e.workflowExecutionFailedEventAttributes?.failure),
        b.secrets,
      );
      b.push(at, 'closed', `Workflow failed: ${b.model.closeReason}`);
      return true;
    case ET.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED: {
      const a = e.workflowExecutionTerminatedEventAttributes!;
      b.model.status = 'terminated';
      b.model.closedAt = at;
      b.model.closeReason = sanitizeText(
        `${a.reason ?? 'no reason given'}${a.identity ? ` (by ${a.identity})` : ''}`,
        b.secrets,
      );
      b.push(at, 'closed', `Workflow terminated: ${b.model.closeReason}`);
      return true;
    }
    case ET.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED:
      b.model.status = 'canceled';
      b.model.closedAt = at;
      b.push(at, 'closed', 'Workflow canceled');
      return true;
    case ET.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT:
      b.model.status = 'timed-out';
      b.model.closedAt = at;
      b.push(at, 'closed', 'Workflow timed out');
      return true;
    case ET.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW:
      b.model.status = 'continued-as-new';
      b.model.closedAt = at;
      b.push(at, 'closed', 'Workflow continued as new');
      return true;
    default:
      return false;
  }
}
