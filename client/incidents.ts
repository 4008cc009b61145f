/**
 * Starting and finding incidents. One incident per runbook and target at a time: the workflow ID is
 * derived from both, and a second start joins the running one instead of remediating twice.
 */
import type { Client, WorkflowHandle, WorkflowHandleWithFirstExecutionRunId } from '@temporalio/client';
import {
  WorkflowExecutionAlreadyStartedError,
  WorkflowIdConflictPolicy,
  WorkflowNotFoundError,
} from '@temporalio/common';
import { alertSignal } from '../workflows/definitions';
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
import { loosenedFields } from '../workflows/gate-policy';
import { POLICY_DEFAULTS } from '../workflows/policy-defaults';
import type { AlertEvent, IncidentInput, IncidentState, RunbookId, Trigger } from '../workflows/types';

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
  /** Runbook-specific input fields: P0-3 `charges`/`reportedBy`, P0-4 `violation`. */
  extraInput?: Record<string, unknown>;
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
  const input: IncidentInput = {
    ...opts.extraInput,
    incidentId: newIncidentId(opts.runbook, opts.target, detectedAt),
    target: opts.target,
    trigger: opts.trigger,
    policy: opts.policy,
  };
  return opts.client.workflow.start(RUNBOOK_WORKFLOWS[opts.runbook], {
    taskQueue: opts.taskQueue,
    workflowId: opts.workflowId ?? incidentWorkflowId(opts.runbook, opts.target),
    workflowIdConflictPolicy:
      opts.conflictPolicy === 'FAIL' ? WorkflowIdConflictPolicy.FAIL : WorkflowIdConflictPolicy.USE_EXISTING,
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

export type JoinOutcome =
  { outcome: 'started'; workflowId: string; runId: string } | { outcome: 'joined'; workflowId: string };

/**
 * An alert firing: start the incident, or join the running one with an `alert` signal. Exactly one
 * firing is counted per call (the workflow counts its trigger as the first firing, so the signal goes
 * only to a run that this call did not start). A run that closes between the two attempts is
 * replaced by a new one, as a later firing would.
 */
export async function startOrJoinIncident(
  opts: Omit<StartIncidentOptions, 'conflictPolicy'> & { event: AlertEvent },
): Promise<JoinOutcome> {
  const workflowId = opts.workflowId ?? incidentWorkflowId(opts.runbook, opts.target);
  for (let attempt = 1; ; attempt++) {
    try {
      const handle = await startIncident({ ...opts, workflowId, conflictPolicy: 'FAIL' });
      return { outcome: 'started', workflowId, runId: handle.firstExecutionRunId };
    } catch (err) {
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    }
    try {
      await opts.client.workflow.getHandle(workflowId).signal(alertSignal, opts.event);
      return { outcome: 'joined', workflowId };
    } catch (err) {
      if (!(err instanceof WorkflowNotFoundError) || attempt >= 3) throw err;
    }
  }
}

/**
 * A resolution (or any information) for the incident of this runbook and target, only if one is
 * running: it never starts anything. Returns false when no incident runs.
 */
export async function signalIfRunning(
  client: Client,
  workflowId: string,
  event: AlertEvent,
): Promise<boolean> {
  const handle = client.workflow.getHandle(workflowId);
  try {
    const d = await handle.describe();
    if (d.status.name !== 'RUNNING') return false;
    await handle.signal(alertSignal, event);
    return true;
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return false;
    throw err;
  }
}
