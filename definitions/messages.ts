/**
 * Signals, queries and updates shared by every runbook. The client, the CLI, the intake and the
 * tests import these constants; the Temporal UI offers them by name.
 */
import { defineQuery, defineSignal } from '@temporalio/workflow';
import type {
  AlertEvent,
  DutyFiled,
  FollowUpState,
  HumanClose,
  IncidentState,
  RunbookUpdateDecision,
} from './types';
import type { AddCharges } from './charges';

export const alertSignal = defineSignal<[AlertEvent]>('alert');
/** P0-3: charges that join the running incident (refunded within the caps; see billing-refunds.ts). */
export const addChargesSignal = defineSignal<[AddCharges]>('addCharges');
export const resolveSignal = defineSignal<[HumanClose]>('resolve');
export const abandonSignal = defineSignal<[HumanClose]>('abandon');
export const stateQuery = defineQuery<IncidentState>('state');

/** Post-incident follow-up (workflow `postIncident`): the three duties and its state. */
export const reportFiledSignal = defineSignal<[DutyFiled]>('reportFiled');
export const postMortemFiledSignal = defineSignal<[DutyFiled]>('postMortemFiled');
export const runbookUpdateSignal = defineSignal<[RunbookUpdateDecision]>('runbookUpdate');
export const followUpStateQuery = defineQuery<FollowUpState>('followUpState');
/**
 * The incident's alert after the incident closed (a closed workflow takes no signals, so its
 * follow-up takes them): information only, counted in `alertAfterClose`.
 */
export const alertAfterCloseSignal = defineSignal<[AlertEvent]>('alertAfterClose');

/** The follow-up's workflow ID: one per incident (incident workflow IDs are reused across incidents). */
export const followUpWorkflowId = (incidentId: string) => `follow-up-${incidentId}`;
