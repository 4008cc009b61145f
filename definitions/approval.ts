/**
 * What an approval is, shared by the gates (workflows/approval.ts), the activities that issue and
 * check codes, and every client that sends or shows one: the signal, the attempt a person sends,
 * the records kept in the incident's state, and the approval policy.
 */
import { defineSignal } from '@temporalio/workflow';

/** How long a one-time code is: short to type from a phone; long after too many wrong guesses. */
export type CodeStrength = 'short' | 'long';

export type ApprovalDecision = 'approve' | 'reject';

/** What a person sends from the UI or the CLI. `via` is a label only. */
export interface ApprovalAttempt {
  /** The approver's id in the directory, e.g. "alice". */
  approver: string;
  decision: ApprovalDecision;
  reason: string;
  /** The one-time code they received, e.g. "ABCDE-FGHJK" (case, spaces and dashes ignored). */
  code: string;
  via?: string;
}

export const APPROVAL_SIGNAL_NAME = 'approval';
/** The UI path (and the CLI's): one JSON object {approver, decision, reason, code}. */
export const approvalSignal = defineSignal<[ApprovalAttempt]>(APPROVAL_SIGNAL_NAME);

/** Attempts kept one by one per approver name and gate; past it they are only counted. */
export const MAX_STORED_ATTEMPTS = 20;

export interface ApprovalAttemptRecord {
  n: number;
  at: string;
  via: string;
  approver: string;
  decision: string;
  reason: string;
  accepted: boolean;
  refusedBecause?: string;
  /** The attempt carried a live code of someone (now spent), though it was refused. */
  spentCodeOf?: string;
}

export interface ApprovalCodeRecord {
  approver: string;
  name: string;
  roles: string[];
  round: number;
  strength: CodeStrength;
  issuedAt: string;
  expiresAt: string;
  /** used: by an accepted attempt; spent: carried by a refused one (its owner got a new code). */
  status: 'live' | 'used' | 'spent' | 'expired' | 'revoked';
  delivered: string[];
  failed: { channel: string; error: string }[];
}

export interface ApprovalGateRecord {
  gate: string;
  what: string;
  requiredRoles: string[];
  status: 'not-requested' | 'pending' | 'approved';
  requestedAt?: string;
  decidedAt?: string;
  round: number;
  codes: ApprovalCodeRecord[];
  attempts: ApprovalAttemptRecord[];
  /** Attempts past MAX_STORED_ATTEMPTS for one name: counted, not stored. */
  attemptsNotStored?: Record<string, number>;
  /** Accepted approvals that count now (a rejection clears them). */
  approvedBy: { approver: string; roles: string[]; at: string; reason: string }[];
  rejections: { approver: string; roles: string[]; at: string; reason: string }[];
  reminders: { at: string; delivered: string[]; failed: string[] }[];
  notices: { at: string; about: string; delivered: string[]; failed: string[] }[];
  /** Why codes could not be sent (no approver for a role, every channel down...). */
  problem?: string;
}

/** A person who can approve (config/approvers.ts reads them from APPROVERS_JSON or APPROVERS_FILE). */
export interface Approver {
  /** What the person types as `approver` in an approval. */
  id: string;
  name: string;
  roles: string[];
  email?: string;
  /** A personal webhook (their own chat DM hook or pager), never a shared channel. */
  webhookUrl?: string;
}

export interface ApproverDirectory {
  approvers: Approver[];
}
