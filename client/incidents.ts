/**
 * Starting and finding incidents. One incident per runbook and target at a time: the workflow ID is
 * derived from both, and a second start joins the running one instead of remediating twice.
 */
import type { Client, WorkflowHandle, WorkflowHandleWithFirstExecutionRunId } from '@temporalio/client';
import { WorkflowIdConflictPolicy, WorkflowIdReusePolicy } from '@temporalio/common';
import { incidentTitle, RUNBOOKS, staticDetails } from '../definitions/catalog';
import {
  AwaitingApprovalKey,
  DryRunKey,
  EscalatedKey,
  IncidentStatusKey,
  RecurrenceOfKey,
  RunbookIdKey,
  SeverityKey,
  TargetServiceKey,
} from '../workflows/search-attributes';
import type * as workflows from '../workflows';
import { loosenedFields } from '../definitions/policies/gate-policy';
import { POLICY_DEFAULTS } from '../definitions/policies';
import type { IncidentInput, IncidentState, RunbookId, Trigger } from '../definitions/types';

export const RUNBOOK_WORKFLOWS = {
  'P0-1': 'systemDown',
  'P0-2': 'poolExhaustion',
  'P0-3': 'billingError',
  'P0-4': 'dataIntegrityViolation',
  'P1-1': 'highErrorRate',
  'P1-2': 'highLatency',
  'P1-3': 'queueOverflow',
} as const satisfies Partial<Record<RunbookId, keyof typeof workflows>>;

export type StartableRunbook = keyof typeof RUNBOOK_WORKFLOWS;

export const incidentWorkflowId = (runbook: RunbookId, target: string) => `incident-${runbook}-${target}`;

/** A readable, unique incident ID: runbook, target and the detection time. */
export function newIncidentId(runbook: RunbookId, target: string, at: Date): string {
  return `${runbook}-${target}-${at
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z')}`;
}

export interface StartIncidentOptions {
  client: Client;
  taskQueue: string;
  runbook: StartableRunbook;
  target: string;
  trigger: Trigger;
  policy?: Record<string, unknown>;
  /** Overrides the derived workflow ID (tests use unique IDs). */
  workflowId?: string;
  /** USE_EXISTING (default) joins a running incident silently; FAIL lets the caller tell start from join. */
  conflictPolicy?: 'USE_EXISTING' | 'FAIL';
  /**
   * Start only when no run of this workflow ID exists at all, running or closed (with FAIL: else
   * WorkflowExecutionAlreadyStartedError). The intake's first try (client/intake/episodes.ts).
   */
  firstRunOnly?: boolean;
  /** Runbook-specific input fields: P0-3 `charges`/`reportedBy`, P0-4 `violation`. */
  extraInput?: Record<string, unknown>;
  /** Overrides the derived incident ID (a recurrence: the alert's startsAt is its predecessor's). */
  incidentId?: string;
  /**
   * A dry run (workflows/dry-run.ts): its own workflow and incident IDs (`dryrun-…`, `DRYRUN-…`), so
   * it never joins, nor is joined by, a real incident, and `DryRun = true`.
   */
  dryRun?: boolean;
  /** A dry run of a past incident (`runbooks rehearse`): that incident's workflow ID. */
  rehearsalOf?: string;
}

/** A dry run's workflow ID: never a real incident's (`incident-…`), unique per dry run. */
export const dryRunWorkflowId = (runbook: RunbookId, target: string, at: Date) =>
  `dryrun-${runbook}-${target}-${at.toISOString().replace(/[-:.]/g, '')}-${Math.random().toString(36).slice(2, 8)}`;

/**
 * What the intake reads back from a closed incident without replaying it (describe, not query):
 * its incident ID (its follow-up's ID derives from it) and the alert episode that started it.
 */
export interface IncidentMemo {
  incidentId: string;
  episode?: { fingerprint?: string; startsAt?: string };
}

/** A trigger-time policy override that would loosen a gate: refused before anything starts. */
export class PolicyRefusedError extends Error {
  constructor(readonly problems: string[]) {
    super(`policy override refused (it may tighten a gate, never loosen it): ${problems.join('; ')}`);
    this.name = 'PolicyRefusedError';
  }
}

export async function startIncident(
  opts: StartIncidentOptions,
): Promise<WorkflowHandleWithFirstExecutionRunId> {
  const problems = loosenedFields(POLICY_DEFAULTS[opts.runbook], opts.policy);
  if (problems.length) throw new PolicyRefusedError(problems);
  const detectedAt = opts.trigger.startsAt ? new Date(opts.trigger.startsAt) : new Date();
  const realId = opts.incidentId ?? newIncidentId(opts.runbook, opts.target, detectedAt);
  const incidentId = opts.dryRun ? `DRYRUN-${realId}-${Date.now().toString(36)}` : realId;
  const memo: IncidentMemo = {
    incidentId,
    episode:
      opts.trigger.fingerprint || opts.trigger.startsAt
        ? { fingerprint: opts.trigger.fingerprint, startsAt: opts.trigger.startsAt }
        : undefined,
  };
  const input: IncidentInput = {
    ...opts.extraInput,
    incidentId,
    target: opts.target,
    trigger: opts.trigger,
    policy: opts.policy,
    ...(opts.dryRun ? { dryRun: true, rehearsalOf: opts.rehearsalOf } : {}),
  };
  const workflowId = opts.dryRun
    ? dryRunWorkflowId(opts.runbook, opts.target, new Date())
    : (opts.workflowId ?? incidentWorkflowId(opts.runbook, opts.target));
  return opts.client.workflow.start(RUNBOOK_WORKFLOWS[opts.runbook], {
    taskQueue: opts.taskQueue,
    workflowId,
    workflowIdConflictPolicy:
      opts.conflictPolicy === 'FAIL' ? WorkflowIdConflictPolicy.FAIL : WorkflowIdConflictPolicy.USE_EXISTING,
    ...(opts.firstRunOnly ? { workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE } : {}),
    args: [input],
    // Findable and readable in the UI from the first second, before the worker picks it up.
    staticSummary: `${opts.dryRun ? 'DRY RUN: ' : ''}${incidentTitle(opts.runbook, opts.target)}`,
    staticDetails: [
      staticDetails(opts.runbook, opts.target, opts.trigger),
      ...(opts.trigger.recurrence
        ? [
            '',
            `**Recurrence of** \`${opts.trigger.recurrence.incidentId}\`: its alert (same fingerprint and start) still fired after that incident closed at ${opts.trigger.recurrence.closedAt}, past the ${Math.round(opts.trigger.recurrence.graceMs / 1000)} s grace.`,
          ]
        : []),
    ].join('\n'),
    memo: { incident: memo },
    typedSearchAttributes: [
      ...(opts.trigger.recurrence
        ? [{ key: RecurrenceOfKey, value: opts.trigger.recurrence.incidentId }]
        : []),
      { key: RunbookIdKey, value: opts.runbook },
      { key: SeverityKey, value: RUNBOOKS[opts.runbook].severity },
      { key: TargetServiceKey, value: opts.target },
      { key: IncidentStatusKey, value: 'investigating' },
      { key: EscalatedKey, value: false },
      { key: AwaitingApprovalKey, value: false },
      ...(opts.dryRun ? [{ key: DryRunKey, value: 'true' }] : []),
    ],
  });
}

export async function incidentState(handle: WorkflowHandle): Promise<IncidentState> {
  return handle.query<IncidentState>('state');
}
