/**
 * Starting and finding incidents. One incident per runbook and target at a time: the workflow ID is
 * derived from both, and a second start joins the running one instead of remediating twice.
 */
import type { Client, WorkflowHandle, WorkflowHandleWithFirstExecutionRunId } from '@temporalio/client';
import { WorkflowIdConflictPolicy } from '@temporalio/common';
import { incidentTitle, RUNBOOKS, staticDetails } from '../workflows/catalog';
import {
  AwaitingApprovalKey,
  EscalatedKey,
  IncidentStatusKey,
  RunbookIdKey,
  SeverityKey,
  TargetServiceKey,
} from '../workflows/search-attributes';
import type * as workflows from '../workflows';
import type { IncidentInput, IncidentState, RunbookId, Trigger } from '../workflows/types';

export const RUNBOOK_WORKFLOWS = {
  'P0-1': 'systemDown',
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
}

export async function startIncident(
  opts: StartIncidentOptions,
): Promise<WorkflowHandleWithFirstExecutionRunId> {
  const detectedAt = opts.trigger.startsAt ? new Date(opts.trigger.startsAt) : new Date();
  const input: IncidentInput = {
    incidentId: newIncidentId(opts.runbook, opts.target, detectedAt),
    target: opts.target,
    trigger: opts.trigger,
    policy: opts.policy,
  };
  return opts.client.workflow.start(RUNBOOK_WORKFLOWS[opts.runbook], {
    taskQueue: opts.taskQueue,
    workflowId: opts.workflowId ?? incidentWorkflowId(opts.runbook, opts.target),
    workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING,
    args: [input],
    // Findable and readable in the UI from the first second, before the worker picks it up.
    staticSummary: incidentTitle(opts.runbook, opts.target),
    staticDetails: staticDetails(opts.runbook, opts.target, opts.trigger),
    typedSearchAttributes: [
      { key: RunbookIdKey, value: opts.runbook },
      { key: SeverityKey, value: RUNBOOKS[opts.runbook].severity },
      { key: TargetServiceKey, value: opts.target },
      { key: IncidentStatusKey, value: 'investigating' },
      { key: EscalatedKey, value: false },
      { key: AwaitingApprovalKey, value: false },
    ],
  });
}

export async function incidentState(handle: WorkflowHandle): Promise<IncidentState> {
  return handle.query<IncidentState>('state');
}
