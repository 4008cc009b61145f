/** The shapes every runbook shares: what starts an incident, what it records, what a person sends. */

export type RunbookId = 'P0-1' | 'P0-2' | 'P0-3' | 'P0-4' | 'P1-1' | 'P1-2' | 'P1-3';
export type Severity = 'P0' | 'P1';

export type IncidentStatus =
  'investigating' | 'remediating' | 'awaiting-approval' | 'escalated' | 'resolved' | 'abandoned';

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
  labels?: Record<string, string>;
}

/** A person closing an incident by hand. */
export interface HumanClose {
  by: string;
  reason: string;
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
  checks: Record<string, unknown>;
  escalations: EscalationRecord[];
  alerts: {
    firing: number;
    resolved: number;
    lastStatus?: string;
    lastAt?: string;
    latestValues?: Record<string, number | string>;
  };
  mttr: MttrRecord;
  /** Why the runbook did what it did, in order ("restart: health check failed with 503"). */
  decisions: string[];
  /** Dependencies that are failing right now (a check that cannot run), by name. */
  failing: Record<string, string>;
  /** Set while the runbook waits for a person: what to send, exactly, from the UI or the CLI. */
  waitingFor?: { what: string; signal: string; example: Record<string, unknown>; since: string };
  outcome?: string;
  closedBy?: HumanClose & { action: 'resolve' | 'abandon'; at: string };
}

/** What every runbook workflow takes. `policy` overrides the runbook's defaults (game days compress time). */
export interface IncidentInput<P = Record<string, unknown>> {
  incidentId: string;
  target: string;
  trigger: Trigger;
  policy?: Partial<P>;
}
