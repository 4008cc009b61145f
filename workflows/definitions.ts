/**
 * Signals, queries and updates shared by every runbook. The client, the CLI, the intake and the
 * tests import these constants; the Temporal UI offers them by name.
 */
import { defineQuery, defineSignal } from '@temporalio/workflow';
import type { AlertEvent, HumanClose, IncidentState } from './types';

export const alertSignal = defineSignal<[AlertEvent]>('alert');
export const resolveSignal = defineSignal<[HumanClose]>('resolve');
export const abandonSignal = defineSignal<[HumanClose]>('abandon');
export const stateQuery = defineQuery<IncidentState>('state');
