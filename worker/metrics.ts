/**
 * Incident and MTTR metrics for Prometheus, served by the worker's health server at /metrics.
 *
 * How the worker learns them: workflows call the `incidentMetrics` sink (workflows/metrics.ts) when
 * an incident opens, escalates, breaches its MTTR target, stops waiting for a person, closes, and
 * when a follow-up duty is done or goes overdue. Sinks leave no events in history and the worker does
 * not call them while replaying, so a replayed or recovered incident is never counted twice. Each
 * worker process counts what it ran; Prometheus sums over the workers.
 */
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { InjectedSinks } from '@temporalio/worker';
import type { IncidentMetricsSinks } from '../workflows/metrics';

const MIN = 60;
/** Buckets around the targets: P0 30 min, P1 4 h. */
const RESOLVE_BUCKETS = [
  1 * MIN,
  5 * MIN,
  10 * MIN,
  15 * MIN,
  30 * MIN,
  60 * MIN,
  2 * 3600,
  4 * 3600,
  8 * 3600,
  24 * 3600,
];
const DUTY_BUCKETS = [3600, 6 * 3600, 12 * 3600, 24 * 3600, 36 * 3600, 48 * 3600, 72 * 3600, 7 * 24 * 3600];

export interface IncidentMetrics {
  registry: Registry;
  opened: Counter<'runbook' | 'severity'>;
  closed: Counter<'runbook' | 'severity' | 'status' | 'breached'>;
  escalations: Counter<'runbook' | 'severity' | 'tier'>;
  breaches: Counter<'runbook' | 'severity'>;
  timeToResolve: Histogram<'runbook' | 'severity' | 'status'>;
  timeToRemediation: Histogram<'runbook' | 'severity'>;
  personWait: Histogram<'runbook' | 'severity'>;
  followUpDone: Histogram<'runbook' | 'severity' | 'duty'>;
  followUpOverdue: Counter<'runbook' | 'severity' | 'duty'>;
}

export function createIncidentMetrics(
  registry = new Registry(),
  opts: { processMetrics?: boolean } = {},
): IncidentMetrics {
  if (opts.processMetrics) collectDefaultMetrics({ register: registry });
  const registers = [registry];
  return {
    registry,
    opened: new Counter({
      name: 'accubooks_incidents_opened_total',
      help: 'Incidents opened, by runbook and severity',
      labelNames: ['runbook', 'severity'],
      registers,
    }),
    closed: new Counter({
      name: 'accubooks_incidents_closed_total',
      help: 'Incidents closed, by runbook, severity, status (resolved/abandoned) and whether the MTTR target was breached',
      labelNames: ['runbook', 'severity', 'status', 'breached'],
      registers,
    }),
    escalations: new Counter({
      name: 'accubooks_incident_escalations_total',
      help: 'Escalations (pages to the next tier), by runbook, severity and tier',
      labelNames: ['runbook', 'severity', 'tier'],
      registers,
    }),
    breaches: new Counter({
      name: 'accubooks_incident_mttr_breaches_total',
      help: 'MTTR targets breached (counted when the breach happens, with the incident still open)',
      labelNames: ['runbook', 'severity'],
      registers,
    }),
    timeToResolve: new Histogram({
      name: 'accubooks_incident_time_to_resolve_seconds',
      help: 'Detection (alert startsAt) to resolution, by runbook, severity and status; target P0 1800 s, P1 14400 s',
      labelNames: ['runbook', 'severity', 'status'],
      buckets: RESOLVE_BUCKETS,
      registers,
    }),
    timeToRemediation: new Histogram({
      name: 'accubooks_incident_time_to_remediation_seconds',
      help: 'Detection to the start of remediation (the runbook picking the incident up)',
      labelNames: ['runbook', 'severity'],
      buckets: [5, 15, 30, 60, 180, 300, 600, 1800],
      registers,
    }),
    personWait: new Histogram({
      name: 'accubooks_incident_approval_wait_seconds',
      help: 'Time an incident waited for a person (approval), per wait',
      labelNames: ['runbook', 'severity'],
      buckets: [60, 300, 900, 1800, 3600, 4 * 3600, 24 * 3600],
      registers,
    }),
    followUpDone: new Histogram({
      name: 'accubooks_followup_duty_done_seconds',
      help: 'Resolution to a post-incident duty being done (report due 86400 s, post-mortem 172800 s)',
      labelNames: ['runbook', 'severity', 'duty'],
      buckets: DUTY_BUCKETS,
      registers,
    }),
    followUpOverdue: new Counter({
      name: 'accubooks_followup_duties_overdue_total',
      help: 'Post-incident duties that missed their deadline (and were escalated)',
      labelNames: ['runbook', 'severity', 'duty'],
      registers,
    }),
  };
}

const sec = (ms: number) => Math.max(0, ms) / 1000;

/** The sink implementations the worker injects (Worker.create({ sinks })). */
export function incidentMetricsSinks(m: IncidentMetrics): InjectedSinks<IncidentMetricsSinks> {
  return {
    incidentMetrics: {
      opened: { fn: (_info, e) => m.opened.inc({ runbook: e.runbook, severity: e.severity }) },
      escalated: {
        fn: (_info, e) => m.escalations.inc({ runbook: e.runbook, severity: e.severity, tier: e.tier }),
      },
      mttrBreached: { fn: (_info, e) => m.breaches.inc({ runbook: e.runbook, severity: e.severity }) },
      waitedForPerson: {
        fn: (_info, e) => m.personWait.observe({ runbook: e.runbook, severity: e.severity }, sec(e.ms)),
      },
      closed: {
        fn: (_info, e) => {
          const labels = { runbook: e.runbook, severity: e.severity };
          m.closed.inc({ ...labels, status: e.status, breached: String(e.breached) });
          m.timeToResolve.observe({ ...labels, status: e.status }, sec(e.timeToResolveMs));
          m.timeToRemediation.observe(labels, sec(e.timeToRemediationMs));
        },
      },
      followUpDuty: {
        fn: (_info, e) => {
          const labels = { runbook: e.runbook, severity: e.severity, duty: e.duty };
          if (e.event === 'done') m.followUpDone.observe(labels, sec(e.ms));
          else m.followUpOverdue.inc(labels);
        },
      },
    },
  };
}
