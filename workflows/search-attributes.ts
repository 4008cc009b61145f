/**
 * Search attributes every incident keeps current, so "open P0 incidents awaiting approval" is one
 * filter in the UI and one list query in the CLI. Registered on the dev server by scripts/stack.sh
 * and on a real cluster with `temporal operator search-attribute create` (see the README).
 */
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

export const RunbookIdKey = defineSearchAttributeKey('RunbookId', SearchAttributeType.KEYWORD);
export const SeverityKey = defineSearchAttributeKey('Severity', SearchAttributeType.KEYWORD);
export const TargetServiceKey = defineSearchAttributeKey('TargetService', SearchAttributeType.KEYWORD);
export const IncidentStatusKey = defineSearchAttributeKey('IncidentStatus', SearchAttributeType.KEYWORD);
export const EscalatedKey = defineSearchAttributeKey('Escalated', SearchAttributeType.BOOL);
export const AwaitingApprovalKey = defineSearchAttributeKey('AwaitingApproval', SearchAttributeType.BOOL);

/**
 * Set (by the client, at the start) only on an incident started because the alert of a closed
 * incident kept firing past the recurrence grace (client/intake/episodes.ts): the incident ID of
 * the one it recurs. `RecurrenceOf != ''` lists every recurrence.
 */
export const RecurrenceOfKey = defineSearchAttributeKey('RecurrenceOf', SearchAttributeType.KEYWORD);

/**
 * Set on a dry run only (workflows/dry-run.ts): `DryRun = 'true'` lists rehearsals, real incidents
 * lack it (`DryRun IS NULL`). A keyword, not a Bool: the dev server allows only 3 Bool attributes.
 */
export const DryRunKey = defineSearchAttributeKey('DryRun', SearchAttributeType.KEYWORD);

export const INCIDENT_SEARCH_ATTRIBUTES = [
  RunbookIdKey,
  SeverityKey,
  TargetServiceKey,
  IncidentStatusKey,
  EscalatedKey,
  AwaitingApprovalKey,
  RecurrenceOfKey,
  DryRunKey,
];

/**
 * The post-incident follow-up (workflow `postIncident`) keeps these current so open duties are one
 * list query: `FollowUpDuties = 'post-mortem'`, `FollowUpOverdue = true`. It also carries RunbookId,
 * Severity, TargetService and IncidentStatus ('follow-up' while a duty is open, 'follow-up-done').
 */
export const FollowUpDutiesKey = defineSearchAttributeKey('FollowUpDuties', SearchAttributeType.KEYWORD_LIST);
export const FollowUpOverdueKey = defineSearchAttributeKey('FollowUpOverdue', SearchAttributeType.BOOL);

export const FOLLOW_UP_SEARCH_ATTRIBUTES = [FollowUpDutiesKey, FollowUpOverdueKey];
