/**
 * What the approval page needs from Temporal: the incident's state (its own query, decoded by the
 * client's data converter, so the codec may be on or off) and one submission, answered with the
 * workflow's own verdict read back from that state. The workflow decides and records every attempt;
 * the page only carries it.
 */
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { randomBytes } from 'node:crypto';
import {
  approvalSignal,
  type ApprovalAttemptRecord,
  type ApprovalGateRecord,
} from '../../definitions/approval';
import { stateQuery } from '../../definitions/messages';
import type { IncidentState } from '../../definitions/types';

export interface PageSubmission {
  workflowId: string;
  gate: string;
  approver: string;
  decision: 'approve' | 'reject';
  reason: string;
  /** The link's deciding code, as it came in the link. */
  code: string;
}

export type Verdict =
  | { kind: 'recorded'; attempt: ApprovalAttemptRecord; gate: ApprovalGateRecord }
  | { kind: 'not-stored'; reason: string }
  | { kind: 'closed'; reason: string }
  | { kind: 'no-answer'; reason: string };

export interface ApprovalGateway {
  /** The incident's state, or undefined when no such workflow exists. */
  state(workflowId: string): Promise<IncidentState | undefined>;
  submit(s: PageSubmission, timeoutMs: number): Promise<Verdict>;
  ready(): Promise<void>;
}

/** `via` of a page submission: a label plus a nonce, so the page finds its own attempt's record. */
export const PAGE_VIA = 'approval page';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function temporalApprovalGateway(client: Client): ApprovalGateway {
  const query = async (workflowId: string) =>
    client.workflow.getHandle(workflowId).query<IncidentState>(stateQuery);
  return {
    async state(workflowId) {
      try {
        return await query(workflowId);
      } catch (err) {
        if (err instanceof WorkflowNotFoundError) return undefined;
        throw err;
      }
    },

    async submit(s, timeoutMs) {
      const via = `${PAGE_VIA} ${randomBytes(4).toString('hex')}`;
      const handle = client.workflow.getHandle(s.workflowId);
      const before = (await query(s.workflowId)).approvals ?? [];
      const notStored = (gs: ApprovalGateRecord[]) =>
        gs.reduce((n, g) => n + (g.attemptsNotStored?.[s.approver] ?? 0), 0);
      const notStoredBefore = notStored(before);
      try {
        await handle.signal(approvalSignal, {
          approver: s.approver,
          decision: s.decision,
          reason: s.reason,
          code: s.code,
          via,
        });
      } catch (err) {
        if (err instanceof WorkflowNotFoundError)
          return { kind: 'closed', reason: 'the incident is closed: it takes no more approvals' };
        throw err;
      }
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        // Queries need a worker, which may be restarting: keep asking until the deadline.
        const gates = await query(s.workflowId)
          .then((st) => st.approvals ?? [])
          .catch(() => undefined);
        for (const g of gates ?? []) {
          const attempt = g.attempts.find((a) => a.via === via);
          if (attempt) return { kind: 'recorded', attempt, gate: g };
        }
        if (gates && notStored(gates) > notStoredBefore)
          return {
            kind: 'not-stored',
            reason: `refused: too many attempts in the name "${s.approver}" (counted, no longer stored one by one)`,
          };
        if (Date.now() > deadline)
          return {
            kind: 'no-answer',
            reason: `the workflow has not recorded the attempt within ${Math.round(timeoutMs / 1000)} s; open the link again to see whether it counted`,
          };
        await sleep(200);
      }
    },

    async ready() {
      await client.connection.withDeadline(Date.now() + 2000, () => client.workflowService.getSystemInfo({}));
    },
  };
}
