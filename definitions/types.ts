/** The shapes every runbook shares: what starts an incident, what it records, what a person sends. */
import type { ApprovalGateRecord } from './approval';
import type { IncidentChecks } from './checks';

export type RunbookId = 'P0-1' | 'P0-2' | 'P0-3' | 'P0-4' | 'P1-1' | 'P1-2' | 'P1-3';
export type Severity = 'P0' | 'P1';

export type IncidentStatus =
  | 'investigating'
  | 'remediating'
  | 'awaiting-approval'
  | 'escalated'
  | 'resolved'
  | 'abandoned'
  /** A dry run that reached the end of its plan (workflows/dry-run.ts): nothing was done. */
  | 'planned';

/** What started the incident: an alert (Alertmanager or other caller) or a person. */
export interface Trigger {
  source: 'alert' | 'manual';
  alertName?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  /** The alert's own start time (Alertmanager `startsAt`): detection time for MTTR. */
  startsAt?: string;
  fingerprint?: string;
  /** Who or what started it: a person's name, or the intake. */
  startedBy?: string;
  description?: string;
  values?: Record<string, number | string>;
  /**
   * Set when the alert of a closed incident (same fingerprint and startsAt) kept firing past the
   * recurrence grace (client/intake/episodes.ts): this incident is a recurrence of that one.
   */
  recurrence?: Recurrence;
  /** Alertmanager's own URL (webhook `externalURL`): its alerts, silences, the group. http(s) only. */
  externalURL?: string;
  /** The rule's expression in Prometheus that fired (the alert's `generatorURL`). http(s) only. */
  generatorURL?: string;
  /**
   * Alerts of the same notification that Alertmanager left out (`truncatedAlerts`, the receiver's
   * `max_alerts`): they reached no incident, so their targets may have none.
   */
  truncatedAlerts?: number;
}

/** The closed incident a recurrence follows, and when the recurrence was detected. */
export interface Recurrence {
  incidentId: string;
  workflowId: string;
  runId: string;
  closedAt: string;
  /** When the still-firing alert passed the grace: the recurrence's detection time (its MTTR starts here). */
  detectedAt: string;
  graceMs: number;
}

/** What the follow-up records about the alert after its incident closed (the incident takes no signals). */
export interface AlertAfterClose {
  /** Notifications of the same alert episode received after the incident closed. */
  firing: number;
  resolved: number;
  lastStatus: 'firing' | 'resolved';
  lastAt: string;
  /** The longest the alert was seen still firing after resolution (ms). */
  stillFiringAfterMs?: number;
  /** When Alertmanager's resolved notification arrived. */
  resolvedNotificationAt?: string;
  /** A sentence for people: "still firing 40 s after resolution", "resolved notification 52 s after resolution". */
  note: string;
}

/** A later firing (or resolution) of the alert that started the incident. */
export interface AlertEvent {
  status: 'firing' | 'resolved';
  alertName?: string;
  fingerprint?: string;
  startsAt?: string;
  endsAt?: string;
  receivedAt?: string;
  values?: Record<string, number | string>;
  /** P0-3: charge IDs the alert reports; they join the running incident (billing-refunds.ts). */
  charges?: string[];
  labels?: Record<string, string>;
  /**
   * Repeats folded by the intake in an alert storm: this one signal stands for `firing` firings and
   * `resolved` resolutions (the event's other fields are the latest of them). Absent: one alert.
   */
  count?: { firing: number; resolved: number };
  /** Alerts Alertmanager left out of the notification that carried this one (`truncatedAlerts`). */
  truncatedAlerts?: number;
}

/**
 * A person closing an incident by hand. `resolve` is a claim the runbook verifies with its own check
 * of the end state; `abandon` needs a one-time code from a person holding the abandon role (default
 * CTO): sent without `code` it asks them for one, with `code` it is their approval.
 */
export interface HumanClose {
  by: string;
  reason: string;
  code?: string;
}

/** A resolve or abandon that was asked for, and what came of it. */
export interface CloseRequest {
  at: string;
  action: 'resolve' | 'abandon';
  by: string;
  reason: string;
  /** resolve: verified or refused by the runbook's check; abandon: codes requested, approved, rejected. */
  outcome: 'verifying' | 'verified' | 'refused' | 'approval requested' | 'approved' | 'rejected';
  detail?: string;
}

export interface StepRecord {
  name: string;
  title: string;
  status: 'running' | 'done' | 'failed' | 'skipped';
  startedAt: string;
  finishedAt?: string;
  result?: string;
  error?: string;
}

export interface EscalationRecord {
  at: string;
  tier: string;
  reason: string;
  delivered: string[];
  failed: { channel: string; error: string }[];
}

export interface MttrRecord {
  detectedAt: string;
  remediationStartedAt: string;
  resolvedAt?: string;
  targetMs: number;
  timeToResolveMs?: number;
  breached: boolean;
  breachNotifiedAt?: string;
  /** Time spent waiting for a person (approvals), each wait from `since` to `until`. */
  waits?: { what: string; since: string; until?: string; ms?: number }[];
}

export interface IncidentState {
  incidentId: string;
  runbook: RunbookId;
  title: string;
  severity: Severity;
  target: string;
  status: IncidentStatus;
  currentStep: string;
  trigger: Trigger;
  steps: StepRecord[];
  /** Latest value of every check, by name (health, pool utilization, error rate...). */
  checks: IncidentChecks;
  escalations: EscalationRecord[];
  alerts: {
    firing: number;
    resolved: number;
    lastStatus?: string;
    lastAt?: string;
    latestValues?: Record<string, number | string>;
    /**
     * Notifications that reached this incident with alerts left out by Alertmanager (max_alerts):
     * how many such notifications, the latest count left out, and when.
     */
    truncated?: { notifications: number; latestAlerts: number; lastAt: string };
  };
  mttr: MttrRecord;
  /** Why the runbook did what it did, in order ("restart: health check failed with 503"). */
  decisions: string[];
  /** Dependencies that are failing right now (a check that cannot run), by name. */
  failing: Record<string, string>;
  /** Set while the runbook waits for a person: what to send, exactly, from the UI or the CLI. */
  waitingFor?: { what: string; signal: string; example: Record<string, unknown>; since: string };
  outcome?: string;
  closedBy?: {
    by: string;
    reason: string;
    action: 'resolve' | 'abandon';
    at: string;
    /** resolve: what the runbook's own check of the end state saw. */
    verified?: string;
  };
  /** Every resolve/abandon a person asked for, accepted or not (who, why, and the outcome). */
  closeRequests?: CloseRequest[];
  /** P0-3/P0-4 approval gates: codes sent (never the codes), every attempt and its outcome. */
  approvals?: ApprovalGateRecord[];
  /**
   * What this incident asked its targets' guards, and how each granted action ended (newest last,
   * about 20). The guard reads it back: it grants only what the named incident really asked, and
   * frees a target only when the action is recorded here as finished. A request or a report anyone
   * could send from the UI proves nothing by itself (workflows/target-guard.ts).
   */
  guardRequests?: GuardRequestRecord[];
  /** The post-incident follow-up started when the incident closed (report, post-mortem, runbook update). */
  followUp?: { workflowId: string; startedAt?: string; error?: string };
  /** Set on a dry run only: the plan of what the real run would do (workflows/dry-run.ts). */
  dryRun?: DryRunRecord;
}

/** The plan entry kind of a check of a planned action's effect: assumed, not read (dry runs). */
export const ASSUMED_CHECK_KIND = 'verify';

/**
 * One action of a dry run's plan: what the real run would do at this point, with what, and what the
 * target guard answered when asked whether it would grant it (asked read-only: no lease, no hold).
 */
export interface PlannedAction {
  /** 1, 2, ... in the order the real run would take them. */
  n: number;
  at: string;
  /**
   * A guarded action kind (restart, stop, billing-flag, refund, hold, ...), `page`, `notify`, or
   * `verify`: a check of a planned action's effect, assumed (`inputs.assumed`), not read.
   */
  kind: string;
  /** "Restart container accubooks-api", "Page engineering lead (CTO): ...". */
  action: string;
  target: string;
  /** What the real run would hand the action (never a secret: approval codes are not actions). */
  inputs: Record<string, unknown>;
  /** The guard's answer, for guarded actions; pages and notifications ask no guard. */
  guard?: { wouldGrant: boolean; reason: string };
}

/** A dry run's plan and why it ended where it did. */
export interface DryRunRecord {
  plan: PlannedAction[];
  /** The incident workflow this dry run rehearses (`runbooks rehearse`), if any. */
  rehearsalOf?: string;
  /** Where and why the plan ends: where the real run would end ("the real run would end here, resolved: …"), or a step it cannot assume. */
  end?: string;
  endedAt?: string;
}

export interface GuardRequestRecord {
  requestId: string;
  target: string;
  kind: string;
  askedAt: string;
  /** Set when the granted action ended (or at once, when the guard refused). */
  finishedAt?: string;
  ok?: boolean;
}

/** What every runbook workflow takes. `policy` overrides the runbook's defaults (game days compress time). */
export interface IncidentInput<P = Record<string, unknown>> {
  incidentId: string;
  target: string;
  trigger: Trigger;
  policy?: Partial<P>;
  /** Overrides for the post-incident follow-up started when this incident closes (owners, deadlines). */
  followUp?: FollowUpOptions;
  /**
   * A dry run (rehearsal): every read-only check real, every mutating action, page and notification
   * only recorded as a planned "would ..." step (workflows/dry-run.ts). Approvals stay real, marked.
   */
  dryRun?: boolean;
  /** A dry run started by `runbooks rehearse`: the incident workflow it replays. */
  rehearsalOf?: string;
}

/** What the incident hands to its follow-up: who owns it and any deadline overrides. */
export interface FollowUpOptions {
  /** Email addresses of the incident's owners (default: the follow-up policy's owners). */
  owners?: string[];
  policy?: Partial<PostIncidentPolicy>;
}

/** Post-incident duties from the seed: report within 24 h, post-mortem within 48 h, runbook update if needed. */
export interface PostIncidentPolicy {
  /** "Incident report within 24 hours", from resolution. */
  reportDueMs: number;
  /** The owners get a reminder this long before the report is due. */
  reportReminderBeforeMs: number;
  /** "Post-mortem within 48 hours", from resolution. */
  postMortemDueMs: number;
  postMortemReminderBeforeMs: number;
  /**
   * "Runbook update if needed": the decision (and, when needed, the linked change) is due this long
   * after resolution; the seed gives no deadline, so the default is the post-mortem's (48 h).
   */
  runbookUpdateDueMs: number;
  runbookUpdateReminderBeforeMs: number;
  /** Who is paged when a deadline is missed. */
  escalationTier: string;
  /** Who gets the draft report and the reminders. */
  owners: string[];
}

export type FollowUpDuty = 'incident-report' | 'post-mortem' | 'runbook-update';

/** `reportFiled` / `postMortemFiled`: where the document is and who wrote it. */
export interface DutyFiled {
  link: string;
  author: string;
  note?: string;
}

/** `runbookUpdate`: does the runbook need a change? `needed: true` without `link` keeps the duty open. */
export interface RunbookUpdateDecision {
  needed: boolean;
  note: string;
  by: string;
  /** The change to the runbook (PR or commit), once it exists. */
  link?: string;
}

export interface DutyState {
  duty: FollowUpDuty;
  status: 'open' | 'done';
  dueAt?: string;
  remindedAt?: string;
  overdue: boolean;
  escalatedAt?: string;
  doneAt?: string;
  link?: string;
  by?: string;
  note?: string;
  /** For the runbook update: the decision as recorded. */
  needed?: boolean;
}

export interface FollowUpState {
  incidentId: string;
  incidentWorkflowId: string;
  runbook: RunbookId;
  severity: Severity;
  title: string;
  target: string;
  incidentStatus: IncidentStatus;
  resolvedAt: string;
  status: 'drafting' | 'open' | 'closed';
  owners: string[];
  duties: Record<FollowUpDuty, DutyState>;
  draft?: { sentAt: string; source: 'history' | 'state'; delivered: string[]; failed: string[] };
  reminders: { at: string; duty: FollowUpDuty; delivered: string[] }[];
  escalations: EscalationRecord[];
  /** Signals that were refused (missing link/author...), with the reason: never silently dropped. */
  refused: { at: string; signal: string; reason: string }[];
  /** The incident's alert seen after the incident closed (`alertAfterClose`): repeats and its resolution. */
  alertAfterClose?: AlertAfterClose;
  closedAt?: string;
}

/** The follow-up workflow's input (incident.ts starts it as the incident closes). */
export interface PostIncidentInput {
  /** The incident's state as it closed. */
  incident: IncidentState;
  incidentWorkflowId: string;
  incidentRunId?: string;
  owners?: string[];
  policy?: Partial<PostIncidentPolicy>;
}
