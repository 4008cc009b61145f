/**
 * Releasing a P0-4 hold whose incident closed without its approval (abandoned with the CTO's code,
 * or ended some other way): "Resume: CEO approval required" still holds, so the release is a gate
 * like the approval itself, kept in the target guard (which outlives the incident), never a
 * `terminate`.
 *
 *   1. A person asks: the guard's `releaseHold` signal, {"by": "<name>", "reason": "<why>"}.
 *   2. The roles that resume the API (CEO) get one-time codes over their own channels.
 *   3. One of them confirms with the guard's `approval` signal (the same JSON as an incident's).
 *   4. The guard drops the hold and says who asked and who approved; runbooks may act again.
 * Terminating the guard remains the namespace admins' break-glass (recorded in its history).
 */
import { defineSignal, setHandler, workflowInfo } from '@temporalio/workflow';
import { notifications } from './activity-proxies';
import { ApprovalGate } from './approval';
import { ApprovalHub, type GateHost } from './approval-hub';
import { type ApprovalGateRecord } from '../definitions/approval';
import { approvalDefaults } from '../definitions/policies/approval';
import type { HumanClose } from '../definitions/types';

export const releaseHoldSignal = defineSignal<[HumanClose]>('releaseHold');

/** Who may release a hold: the roles that resume the held API (the seed: CEO). */
export const HOLD_RELEASE_ROLES = approvalDefaults.requiredRoles;

export interface HoldReleaseHost {
  target: string;
  /** Incident ID of the current holder, or undefined when nothing is held. */
  holderIncident(): string | undefined;
  /** Drops every hold, recording why. */
  release(why: string): void;
  note(text: string): void;
  /** Where the release gates are shown (the guard's state). */
  gateRecords: ApprovalGateRecord[];
}

/** Registers `releaseHold` and `approval` on the guard; `pending()` while a release waits for its approval. */
export function setupHoldRelease(h: HoldReleaseHost): { pending: () => boolean } {
  const host: GateHost = {
    get incidentId() {
      return h.holderIncident() ?? `target-guard-${h.target}`;
    },
    runbook: 'target guard',
    gateRecords: h.gateRecords,
    decide: (text) => h.note(text),
    async escalate(reason, tier) {
      h.note(`Escalating to ${tier}: ${reason}`);
      try {
        await notifications.page.executeWithOptions({ summary: `Page ${tier}: ${reason}` }, [
          {
            incidentId: host.incidentId,
            runbook: 'target guard',
            severity: 'P0',
            tier,
            summary: `Hold on ${h.target}: ${reason}`,
            details: {},
            dedupKey: `${workflowInfo().workflowId}/release-${gates}`,
          },
        ]);
      } catch {
        // Recorded in the guard's log above; the release simply stays pending.
      }
    },
    awaitPerson: () => undefined,
    stopAwaitingPerson: () => undefined,
  };
  const hub = new ApprovalHub(host);
  void hub.run();
  let gates = 0;
  let asked: { by: string; reason: string } | undefined;

  async function requestRelease(by: string, reason: string): Promise<void> {
    gates++;
    const gate = new ApprovalGate(
      hub,
      `release-hold-${gates}`,
      `Release the P0-4 hold on ${h.target} (runbooks may then start and restart it again)`,
      { ...approvalDefaults, requiredRoles: HOLD_RELEASE_ROLES },
      { blocksRunbook: false },
    );
    await gate.waitForApproval(
      `${by} asks to release the data-integrity hold on ${h.target} (incident ${host.incidentId}): ${reason}.\n` +
        `Approve only if the integrity problem is fixed: runbooks may then start the API again.\n` +
        `Send the "approval" signal to workflow ${workflowInfo().workflowId} (the target guard).`,
    );
    if (gate.approved) {
      const approvers = gate.record.approvedBy.map((a) => `${a.approver} (${a.roles.join('/')})`).join(', ');
      h.release(`released at the request of ${by} (${reason}), approved by ${approvers}`);
    } else {
      h.note(`Release of the hold on ${h.target} asked by ${by} was rejected; the hold stays`);
    }
    asked = undefined;
  }

  setHandler(
    releaseHoldSignal,
    (req) => {
      const by = typeof req?.by === 'string' ? req.by.trim().slice(0, 100) : '';
      const reason = typeof req?.reason === 'string' ? req.reason.trim().slice(0, 500) : '';
      if (!by || !reason) return h.note('Ignored a releaseHold signal without "by" and "reason"');
      if (!h.holderIncident()) return h.note(`releaseHold by ${by}: nothing is held on ${h.target}`);
      if (asked)
        return h.note(`releaseHold by ${by}: a release asked by ${asked.by} already waits for approval`);
      asked = { by, reason };
      h.note(`releaseHold asked by ${by}: ${reason}; codes go to ${HOLD_RELEASE_ROLES.join(' + ')}`);
      void requestRelease(by, reason);
    },
    {
      description:
        'Ask to release a P0-4 hold whose incident closed without its approval: {"by": "name", "reason": "why"}. The CEO confirms with the approval signal and their one-time code.',
    },
  );
  return { pending: () => asked !== undefined };
}
