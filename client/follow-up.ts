/**
 * The post-incident follow-up from the client side: finding an incident's follow-up workflow from
 * whatever the operator has at hand, filing its duties, and listing the open ones.
 */
import type { Client, WorkflowExecutionInfo, WorkflowHandle } from '@temporalio/client';
import { WorkflowNotFoundError } from '@temporalio/common';
import {
  followUpStateQuery,
  followUpWorkflowId,
  postMortemFiledSignal,
  reportFiledSignal,
  runbookUpdateSignal,
} from '../definitions/messages';
import {
  FollowUpDutiesKey,
  FollowUpOverdueKey,
  RunbookIdKey,
  SeverityKey,
  TargetServiceKey,
} from '../workflows/search-attributes';
import type {
  DutyFiled,
  FollowUpDuty,
  FollowUpState,
  IncidentState,
  RunbookUpdateDecision,
} from '../definitions/types';

export const FOLLOW_UP_WORKFLOW_TYPE = 'postIncident';
const FOLLOW_UP_PREFIX = followUpWorkflowId('');

/** Why a follow-up could not be found, in words that say what to do next. */
export class FollowUpLookupError extends Error {}

const isNotFound = (err: unknown) =>
  err instanceof WorkflowNotFoundError || /not found/i.test((err as Error)?.message ?? '');

async function exists(handle: WorkflowHandle): Promise<boolean> {
  try {
    await handle.describe();
    return true;
  } catch (err) {
    if (isNotFound(err)) return false;
    throw err;
  }
}

/**
 * The follow-up workflow ID for any of: the follow-up's own ID (`follow-up-<incidentId>`), the
 * incident ID, or the incident's workflow ID (its state or result carries `incidentId` and the
 * follow-up's ID).
 */
export async function resolveFollowUpId(client: Client, ref: string): Promise<string> {
  if (ref.startsWith(FOLLOW_UP_PREFIX) && (await exists(client.workflow.getHandle(ref)))) return ref;
  const byIncidentId = followUpWorkflowId(ref);
  if (await exists(client.workflow.getHandle(byIncidentId))) return byIncidentId;

  const incident = client.workflow.getHandle(ref);
  let status: string;
  try {
    status = (await incident.describe()).status.name;
  } catch (err) {
    if (!isNotFound(err)) throw err;
    throw new FollowUpLookupError(
      `No follow-up, incident or incident workflow called "${ref}". Open follow-ups are listed by: runbooks list`,
    );
  }
  let state: IncidentState | undefined;
  if (status === 'COMPLETED') state = (await incident.result()) as IncidentState;
  else if (status === 'RUNNING') state = await incident.query<IncidentState>('state').catch(() => undefined);
  if (status === 'RUNNING' && state && !state.followUp) {
    throw new FollowUpLookupError(
      `Incident ${ref} is still open (${state.status}); its follow-up starts when it is resolved or closed. ` +
        `See: runbooks status ${ref}`,
    );
  }
  const id =
    state?.followUp?.workflowId ?? (state?.incidentId ? followUpWorkflowId(state.incidentId) : undefined);
  if (!id) {
    throw new FollowUpLookupError(
      `Workflow ${ref} (${status.toLowerCase()}) has no incident state to find its follow-up from. ` +
        'Give the follow-up workflow ID (follow-up-<incident ID>) instead; open ones: runbooks list',
    );
  }
  if (!(await exists(client.workflow.getHandle(id)))) {
    throw new FollowUpLookupError(
      `Incident ${ref} has no follow-up workflow (${id} not found)` +
        (state?.followUp?.error ? `: it failed to start (${state.followUp.error})` : '') +
        '. P0/P1 incidents start one when they close; open ones: runbooks list',
    );
  }
  return id;
}

export type FollowUpAction =
  | { duty: 'incident-report' | 'post-mortem'; filed: DutyFiled }
  | { duty: 'runbook-update'; decision: RunbookUpdateDecision };

export interface FollowUpAnswer {
  followUpWorkflowId: string;
  duty: FollowUpDuty;
  /** Recorded (the duty moved on), or refused by the workflow with its reason. */
  accepted: boolean;
  reason?: string;
  state: FollowUpState;
}

/**
 * Sends the duty's signal and reads the workflow's verdict from its state: the duty changed (done,
 * or for a "needed" runbook update the decision recorded), or a new entry in `refused`.
 */
export async function fileFollowUpDuty(
  client: Client,
  workflowId: string,
  action: FollowUpAction,
  timeoutMs = 10_000,
): Promise<FollowUpAnswer> {
  const handle = client.workflow.getHandle(workflowId);
  const before = await handle.query(followUpStateQuery);
  if (before.status === 'closed') {
    return {
      followUpWorkflowId: workflowId,
      duty: action.duty,
      accepted: false,
      reason: `the follow-up closed at ${before.closedAt}; every duty is done`,
      state: before,
    };
  }
  const refusedBefore = before.refused.length;
  const dutyBefore = JSON.stringify(before.duties[action.duty]);
  if (action.duty === 'runbook-update') await handle.signal(runbookUpdateSignal, action.decision);
  else
    await handle.signal(
      action.duty === 'incident-report' ? reportFiledSignal : postMortemFiledSignal,
      action.filed,
    );
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const state = await handle.query(followUpStateQuery).catch(async (err: unknown) => {
      // The last duty closes the workflow; a closed run answers queries only with a worker.
      if ((await handle.describe()).status.name === 'COMPLETED') return undefined;
      throw err;
    });
    if (!state) {
      return { followUpWorkflowId: workflowId, duty: action.duty, accepted: true, state: before };
    }
    if (state.refused.length > refusedBefore) {
      return {
        followUpWorkflowId: workflowId,
        duty: action.duty,
        accepted: false,
        reason: state.refused[state.refused.length - 1].reason,
        state,
      };
    }
    if (JSON.stringify(state.duties[action.duty]) !== dutyBefore) {
      return { followUpWorkflowId: workflowId, duty: action.duty, accepted: true, state };
    }
    if (Date.now() > deadline) {
      throw new Error(
        `the follow-up ${workflowId} has not processed the signal within ${timeoutMs / 1000} s (is a worker running?)`,
      );
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

export interface ListedFollowUp {
  workflowId: string;
  runbook?: string;
  severity?: string;
  target?: string;
  openDuties: string[];
  overdue: boolean;
  startedAt: string;
}

export const followUpListQuery = `WorkflowType = '${FOLLOW_UP_WORKFLOW_TYPE}' AND ExecutionStatus = 'Running'`;

export function followUpRow(wf: WorkflowExecutionInfo): ListedFollowUp {
  const sa = wf.typedSearchAttributes;
  return {
    workflowId: wf.workflowId,
    runbook: sa.get(RunbookIdKey),
    severity: sa.get(SeverityKey),
    target: sa.get(TargetServiceKey),
    openDuties: sa.get(FollowUpDutiesKey) ?? [],
    overdue: sa.get(FollowUpOverdueKey) ?? false,
    startedAt: wf.startTime.toISOString(),
  };
}
