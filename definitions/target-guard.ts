/**
 * What the target guard is, shared by the guard (workflows/target-guard.ts), the runbooks that ask
 * it (workflows/guarded-actions.ts), the activities that check grants (activities/target-guard.ts)
 * and the clients that show or free holds: the action table, requests and replies, the policy, the
 * messages and the workflow ID. The guard's workflow type stays `targetLease` (open guards and
 * recorded histories carry it).
 */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { ApprovalGateRecord } from './approval';
import type { TargetLeasePolicy } from './policies/target-guard';

/** What a runbook may do to a target, each only with the target guard's grant. */
export type GuardedActionKind =
  | 'restart'
  | 'stop'
  | 'start'
  | 'scale-up'
  | 'scale-down'
  | 'billing-flag'
  | 'pause-flag'
  | 'refund'
  | 'kill-queries'
  | 'kill-sessions';

export type TargetActionKind = GuardedActionKind | 'hold' | 'release-hold';

export interface TargetActionRule {
  /** A P0-4 hold on the target refuses it to every runbook but the holder. */
  heldBlocks: boolean;
  /** Counts against, and is refused past, the crash-loop budget (maxRestarts in restartWindowMs). */
  restartBudget: boolean;
  /** Runs alone on the target: waits for the exclusive action in flight, and others wait for it. */
  exclusive: boolean;
  /** How long a grant lives when it is not the policy's `leaseMs` (an action that retries for long). */
  leaseMs?: number;
  /** Why, in one line (also in docs/target-guard.md). */
  why: string;
}

/**
 * THE table the guard decides from. A change here is a change of the cross-runbook rules: change
 * docs/target-guard.md with it.
 */
export const TARGET_ACTION_RULES: Record<GuardedActionKind, TargetActionRule> = {
  restart: {
    heldBlocks: true,
    restartBudget: true,
    exclusive: true,
    why: 'runs the held code again; a crash loop must reach a person, not restart forever',
  },
  stop: {
    heldBlocks: true,
    restartBudget: false,
    exclusive: true,
    why: 'the holder alone controls a held target; stopping is not a restart',
  },
  start: {
    heldBlocks: true,
    restartBudget: false,
    exclusive: true,
    why: 'starting a held app is what the P0-4 approval is for (only the approved holder starts it)',
  },
  'scale-up': {
    heldBlocks: true,
    restartBudget: false,
    exclusive: true,
    why: "replicas run the held app's image and environment: a new copy of the held code",
  },
  'scale-down': {
    heldBlocks: false,
    restartBudget: false,
    exclusive: true,
    why: 'removes copies of the held code (the safe direction); one Docker change at a time',
  },
  'billing-flag': {
    heldBlocks: false,
    restartBudget: false,
    exclusive: false,
    why: 'a row in billing_config the app reads only when it starts, which the hold controls; a freeze must never wait',
  },
  'pause-flag': {
    heldBlocks: false,
    restartBudget: false,
    exclusive: false,
    why: "a Redis key the job producer honours; pausing sheds load and runs none of the held app's code",
  },
  refund: {
    heldBlocks: false,
    restartBudget: false,
    exclusive: false,
    // P0-3 retries a failed refund in the background for up to a day with the same grant.
    leaseMs: 25 * 60 * 60_000,
    why: "money back to a customer through Stripe; touches nothing of the held app's",
  },
  'kill-queries': {
    heldBlocks: true,
    restartBudget: false,
    exclusive: true,
    why: "the held app's database sessions are evidence of the integrity stop; with the app stopped there is no load to shed",
  },
  'kill-sessions': {
    heldBlocks: true,
    restartBudget: false,
    exclusive: true,
    why: "the held app's database sessions are evidence of the integrity stop; with the app stopped there is no load to shed",
  },
};

export const KINDS: TargetActionKind[] = [
  ...(Object.keys(TARGET_ACTION_RULES) as GuardedActionKind[]),
  'hold',
  'release-hold',
];

/** Holds and releases are ordered with the exclusive actions (a hold waits for the one in flight). */
export const isExclusive = (kind: TargetActionKind) =>
  kind === 'hold' || kind === 'release-hold' || TARGET_ACTION_RULES[kind].exclusive;

/** What a granted runbook hands its mutating activity: the activity checks it with the guard. */
export interface TargetGrant {
  requestId: string;
  target: string;
  kind: GuardedActionKind;
}

/** The guard's answer to "is this grant live?" (grantQuery). */
export interface TargetGrantStatus {
  requestId: string;
  target: string;
  kind: TargetActionKind;
  requester: TargetRequester;
  grantedAt: string;
  expiresAt: string;
  finishedAt?: string;
  live: boolean;
}

export interface TargetRequester {
  workflowId: string;
  incidentId: string;
  runbook: string;
}

export interface TargetRequest {
  /** Unique per request (the update ID too, so a retried activity gets the first answer). */
  requestId: string;
  target: string;
  kind: TargetActionKind;
  requester: TargetRequester;
  reason: string;
  /** Requester's workflow time when it decided to act: a restart granted after this covers it. */
  decidedAt: string;
  /**
   * The restart is to make the target read what its requester has just changed (P0-3's billing
   * switch): only a restart granted after `decidedAt` covers it, not one in the cover window before
   * (that one started before the change and never read it).
   */
  afterChange?: boolean;
}

export interface TargetHold {
  requestId: string;
  holder: TargetRequester;
  reason: string;
  since: string;
}

export interface TargetReply {
  requestId: string;
  target: string;
  kind: TargetActionKind;
  granted: boolean;
  /** Why, in words fit for a page ("held by the data-integrity incident ..."). */
  reason: string;
  heldBy?: TargetHold;
  /** A restart made by someone else after this request was decided: it stands in for this one. */
  coveredBy?: { requestId: string; requester: TargetRequester; kind: TargetActionKind; grantedAt: string };
  /** Set on a grant: report `actionDone` before this, or the guard assumes the action finished. */
  leaseExpiresAt?: string;
}

export interface TargetDone {
  requestId: string;
  ok: boolean;
  note?: string;
}

export interface ActionRecord {
  requestId: string;
  kind: TargetActionKind;
  requester: TargetRequester;
  grantedAt: string;
  expiresAt: string;
  finishedAt?: string;
  ok?: boolean;
}

export interface TargetLeaseState {
  target: string;
  policy: TargetLeasePolicy;
  holds: TargetHold[];
  inFlight?: ActionRecord;
  /** Granted actions, newest last (pruned to the rate window, at most 50). */
  recent: ActionRecord[];
  /** Requests waiting for their turn. */
  queued: string[];
  /** Every decision, newest last (at most 100). */
  log: string[];
  handled: number;
  /** Requests to release a hold whose incident closed (hold-release.ts): codes sent, attempts. */
  approvals?: ApprovalGateRecord[];
}

export interface TargetLeaseInput {
  target: string;
  policy?: Partial<TargetLeasePolicy>;
  carried?: Pick<TargetLeaseState, 'holds' | 'inFlight' | 'recent' | 'log'>;
}

export const targetActionUpdate = defineUpdate<TargetReply, [TargetRequest]>('requestAction');
export const targetDoneSignal = defineSignal<[TargetDone]>('actionDone');
export const targetLeaseStateQuery = defineQuery<TargetLeaseState>('targetState');
export const targetGrantQuery = defineQuery<TargetGrantStatus | null, [string]>('grant');
/**
 * Dry runs: would this request be granted now? A query, so it cannot change the guard's table,
 * leases, holds or queue (anyone with the UI may send it and learn only what `targetState` shows).
 */
export const targetWouldGrantQuery = defineQuery<TargetReply, [TargetRequest]>('wouldGrant');
export const targetLeaseWorkflowId = (target: string) => `target-guard-${target}`;
export const TARGET_LEASE_WORKFLOW_TYPE = 'targetLease';

/**
 * Which activity does which guarded action. Each of these refuses to act without a live grant of
 * that kind (activities/target-guard.ts wraps them), and a workflow must hand one in to call it.
 */
export const GUARDED_ACTIVITIES = {
  restartContainer: 'restart',
  stopContainer: 'stop',
  startContainer: 'start',
  scaleWorkersUp: 'scale-up',
  scaleWorkersDown: 'scale-down',
  setBillingEnabled: 'billing-flag',
  setFlag: 'pause-flag',
  clearFlag: 'pause-flag',
  refundCharge: 'refund',
  cancelQueries: 'kill-queries',
  terminateQueries: 'kill-queries',
  terminateIdleSessions: 'kill-sessions',
} as const satisfies Record<string, GuardedActionKind>;

export type GuardedActivity = keyof typeof GUARDED_ACTIVITIES;
