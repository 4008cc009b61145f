/**
 * The CLI path of an approval (P0-3 resume billing, P0-4 restart after a data-integrity stop).
 *
 * It sends the update `submitApproval`, whose validator refuses a bad approval before it enters
 * history. A validator refusal leaves no trace in the workflow, but every attempt must be recorded,
 * so the refused attempt is then sent as the `approval` signal (marked `via: "cli"`): the workflow
 * runs the same check, refuses it for the same reason, records it and notifies the approvers.
 */
import { WorkflowUpdateFailedError, type WorkflowHandle } from '@temporalio/client';
import {
  approvalSignal,
  approvalUpdate,
  type ApprovalAttempt,
  type ApprovalResult,
} from '../workflows/approval';

export type { ApprovalAttempt, ApprovalResult };

export interface SubmitApprovalResult {
  accepted: boolean;
  /** Accepted: the workflow's answer. Refused: why, as the workflow put it. */
  message: string;
  /** `update` when the workflow answered; `validator` when it was refused before history (then recorded by signal). */
  answeredBy: 'update' | 'validator';
  result?: ApprovalResult;
}

export async function submitApproval(
  handle: WorkflowHandle,
  attempt: ApprovalAttempt,
): Promise<SubmitApprovalResult> {
  try {
    const result = await handle.executeUpdate(approvalUpdate, { args: [attempt] });
    return {
      accepted: result.accepted,
      message: result.accepted ? result.message : result.refusedBecause,
      answeredBy: 'update',
      result,
    };
  } catch (err) {
    if (!(err instanceof WorkflowUpdateFailedError)) throw err;
    const reason = (err.cause?.message ?? err.message).replace(/^approval refused: /, '');
    // Recorded by the workflow's own check, never silently dropped.
    await handle.signal(approvalSignal, { ...attempt, via: 'cli' });
    return { accepted: false, message: reason, answeredBy: 'validator' };
  }
}
