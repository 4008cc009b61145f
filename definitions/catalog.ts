/**
 * The seven runbooks of the seed as data: ID, name, severity, workflow type, the numbered actions
 * and the escalation rule as written. The client uses it for static summaries and the intake for
 * mapping; workflows use it for their titles. Pure data: safe in workflow and client code alike.
 */
import type { RunbookId, Severity } from './types';

export interface RunbookEntry {
  id: RunbookId;
  name: string;
  severity: Severity;
  workflowType: string;
  detection: string;
  actions: string[];
  escalation: string;
}

export const RUNBOOKS: Record<RunbookId, RunbookEntry> = {
  'P0-1': {
    id: 'P0-1',
    name: 'System down',
    severity: 'P0',
    workflowType: 'systemDown',
    detection: 'SystemUnreachable alert (3 min)',
    actions: [
      'Check health',
      'Check logs (last 100 lines)',
      'Restart the API container',
      'Verify: health returns 200',
    ],
    escalation: 'Escalate if not resolved in 15 minutes',
  },
  'P0-2': {
    id: 'P0-2',
    name: 'Database pool exhaustion',
    severity: 'P0',
    workflowType: 'poolExhaustion',
    detection: 'Pool utilization >90% (5 min)',
    actions: [
      'Check pool',
      'Kill idle connections (idle > 5 minutes)',
      'Restart the API container',
      'Verify: pool < 70%',
    ],
    escalation: 'Escalate if pool remains > 80%',
  },
  'P0-3': {
    id: 'P0-3',
    name: 'Billing error',
    severity: 'P0',
    workflowType: 'billingError',
    detection: 'Incorrect charge reported',
    actions: [
      'Freeze billing (billingConfig.enabled = false), restart app',
      'Issue full refund via Stripe',
      'Notify CEO + CTO immediately',
      'Document in launch/evidence/phase4_billing/refunds/',
    ],
    escalation: 'Resume billing: CEO approval required',
  },
  'P0-4': {
    id: 'P0-4',
    name: 'Data integrity violation',
    severity: 'P0',
    workflowType: 'dataIntegrityViolation',
    detection: 'Cross-tenant leakage OR calculation error',
    actions: [
      'Stop system (docker stop)',
      'Preserve evidence (pg_dump)',
      'Notify CEO + CTO + Legal immediately',
      'Do not restart without approval',
    ],
    escalation: 'Resume: CEO approval required',
  },
  'P1-1': {
    id: 'P1-1',
    name: 'High error rate',
    severity: 'P1',
    workflowType: 'highErrorRate',
    detection: 'Error rate >1% (5 min)',
    actions: [
      'Check logs (last 200 lines)',
      'Check database (SELECT 1)',
      'Check Redis (PING)',
      'Restart if needed',
    ],
    escalation: 'Escalate if error rate > 5% or not resolved in 1 hour',
  },
  'P1-2': {
    id: 'P1-2',
    name: 'High latency',
    severity: 'P1',
    workflowType: 'highLatency',
    detection: 'p95 latency >1s (5 min)',
    actions: [
      'Check slow queries (active > 5 seconds)',
      'Check pool utilization (< 70%)',
      'Check Redis hit rate (> 70%)',
      'Kill slow queries if needed',
    ],
    escalation: 'Escalate if latency > 2s or not resolved in 2 hours',
  },
  'P1-3': {
    id: 'P1-3',
    name: 'Queue overflow',
    severity: 'P1',
    workflowType: 'queueOverflow',
    detection: 'Queue depth >200 (10 min)',
    actions: [
      'Check queue (forecast_queue_depth)',
      'Check worker utilization (< 80%)',
      'Scale workers if possible',
      'Pause new jobs if queue > 500',
    ],
    escalation: 'Escalate if queue > 1000 or growing rapidly',
  },
};

export const RUNBOOK_IDS = Object.keys(RUNBOOKS) as RunbookId[];

export const isRunbookId = (value: string): value is RunbookId => value in RUNBOOKS;

/** The one-line title the UI shows: "P0-1 System down: accubooks-api". */
export const incidentTitle = (id: RunbookId, target: string) => `${id} ${RUNBOOKS[id].name}: ${target}`;

/** Markdown for the workflow's static details: trigger, steps, where to find help. */
export function staticDetails(
  id: RunbookId,
  target: string,
  trigger: { source: string; alertName?: string; startedBy?: string; description?: string },
): string {
  const r = RUNBOOKS[id];
  return [
    `## ${incidentTitle(id, target)}`,
    `**Severity** ${r.severity} · **Detection** ${r.detection}`,
    `**Trigger** ${trigger.source}${trigger.alertName ? ` \`${trigger.alertName}\`` : ''}${trigger.startedBy ? ` by ${trigger.startedBy}` : ''}${trigger.description ? ` — ${trigger.description}` : ''}`,
    '',
    '### Actions',
    ...r.actions.map((a, i) => `${i + 1}. ${a}`),
    '',
    `**${r.escalation}**`,
    '',
    'Query `state` for the live state; signals `resolve` / `abandon` close it by hand ({"by": "...", "reason": "..."}).',
    'Help: on-call engineer via PagerDuty; CEO/CTO for approvals (see the README).',
  ].join('\n');
}
