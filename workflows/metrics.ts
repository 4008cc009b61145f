/**
 * Incident metrics leave the workflow through a sink: no history events, and the worker does not
 * call it while replaying, so a replayed incident is never counted twice. The worker injects the
 * implementation (worker/metrics.ts), which records into its prom-client registry for /metrics.
 */
import { proxySinks, type Sinks } from '@temporalio/workflow';
import type { FollowUpDuty, IncidentStatus, RunbookId, Severity } from '../definitions/types';

export interface IncidentLabels {
  runbook: RunbookId;
  severity: Severity;
}

export interface IncidentMetricsSinks extends Sinks {
  incidentMetrics: {
    opened(e: IncidentLabels): void;
    escalated(e: IncidentLabels & { tier: string }): void;
    /** The MTTR target passed with the incident still open (recorded when it happens). */
    mttrBreached(e: IncidentLabels & { targetMs: number }): void;
    /** A wait for a person (approval) ended. */
    waitedForPerson(e: IncidentLabels & { ms: number }): void;
    closed(
      e: IncidentLabels & {
        status: IncidentStatus;
        timeToResolveMs: number;
        /** Detection (alert startsAt) to the start of remediation. */
        timeToRemediationMs: number;
        targetMs: number;
        breached: boolean;
        escalations: number;
      },
    ): void;
    /** A post-incident duty was done (ms since resolution) or went overdue. */
    followUpDuty(e: IncidentLabels & { duty: FollowUpDuty; event: 'done' | 'overdue'; ms: number }): void;
  };
}

export const { incidentMetrics } = proxySinks<IncidentMetricsSinks>();
