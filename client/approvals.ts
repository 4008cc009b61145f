/**
 * The CLI path of an approval (P0-3 resume billing, P0-4 restart after a data-integrity stop).
 *
 * It sends the `approval` signal (marked `via: "cli"`), the same one the Web UI's "Send a Signal"
 * sends, then reads the workflow's verdict on that attempt from its state: accepted, or refused and
 * why. Every attempt is recorded by the workflow, good or bad.
 *
 * Why a signal and no update: an update accepted in the same workflow task as an activity result can
 * be replayed in a different order by the SDK (1.24) than it ran, so the incident fails its replay
 * after a worker restart and stays stuck (found by the worker-crash harness, test/chaos). A signal is
 * a history event with a fixed place, so its replay is exact. (The former `submitApproval` update is
 * gone: it counted no wrong codes and recorded nothing.)
 */
import type { WorkflowHandle } from '@temporalio/client';
import { stateQuery } from '../definitions/messages';
import {
  approvalSignal,
  type ApprovalAttempt,
  type ApprovalAttemptRecord,
  type ApprovalGateRecord,
} from '../definitions/approval';
import type { IncidentState } from '../definitions/types';

export type { ApprovalAttempt };

export interface SubmitApprovalResult {
  accepted: boolean;
  /** Accepted: what it did to the gate. Refused: why, as the workflow put it. */
  message: string;
  /** The workflow's record of this attempt (never the code). */
  attempt: ApprovalAttemptRecord;
  gate: Pick<ApprovalGateRecord, 'gate' | 'what' | 'status' | 'requiredRoles'>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function gates(handle: WorkflowHandle): Promise<ApprovalGateRecord[]> {
  const s = await handle.query<IncidentState>(stateQuery);
  return s.approvals ?? [];
}

export async function submitApproval(
  handle: WorkflowHandle,
  attempt: ApprovalAttempt,
  opts: { timeoutMs?: number } = {},
): Promise<SubmitApprovalResult> {
  // Attempts each gate had before: the answer is the first new one by this approver.
  const counted = (g: ApprovalGateRecord) => g.attempts.length + (g.attemptsNotStored?.[approver] ?? 0);
  const approver = String(attempt.approver ?? '')
    .trim()
    .toLowerCase();
  const initial = await gates(handle);
  const before = new Map(initial.map((g) => [g.gate, g.attempts.length]));
  const notStoredBefore = new Map(initial.map((g) => [g.gate, counted(g) - g.attempts.length]));
  await handle.signal(approvalSignal, { ...attempt, via: 'cli' });
  const deadline = Date.now() + (opts.timeoutMs ?? 60_000);
  for (;;) {
    // The signal is in; queries need a worker, which may be restarting: keep asking until the deadline.
    const now = await gates(handle).catch(() => [] as ApprovalGateRecord[]);
    for (const g of now) {
      const a = g.attempts
        .slice(before.get(g.gate) ?? 0)
        .find((x) => x.via.startsWith('signal (CLI') && x.approver.toLowerCase() === approver);
      if (!a && counted(g) - g.attempts.length > (notStoredBefore.get(g.gate) ?? 0)) {
        const refusedBecause = `refused: too many attempts in the name "${approver}" on this gate (counted, no longer stored one by one)`;
        return {
          accepted: false,
          message: refusedBecause,
          attempt: {
            n: 0,
            at: new Date().toISOString(),
            via: 'signal (CLI)',
            approver,
            decision: String(attempt.decision),
            reason: String(attempt.reason),
            accepted: false,
            refusedBecause,
          },
          gate: { gate: g.gate, what: g.what, status: g.status, requiredRoles: g.requiredRoles },
        };
      }
      if (a) {
        return {
          accepted: a.accepted,
          message: a.accepted
            ? `${a.decision} by ${a.approver} recorded (attempt ${a.n}); gate "${g.what}" is ${g.status}`
            : (a.refusedBecause ?? 'refused'),
          attempt: a,
          gate: { gate: g.gate, what: g.what, status: g.status, requiredRoles: g.requiredRoles },
        };
      }
    }
    if (Date.now() > deadline) {
      throw new Error(
        `the workflow has not recorded the attempt within ${Math.round((opts.timeoutMs ?? 60_000) / 1000)} s`,
      );
    }
    await sleep(200);
  }
}
