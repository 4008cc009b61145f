/**
 * The runbooks' side of the target guard (workflows/target-lease.ts): ask it, through the worker's
 * own Temporal client, before acting on a shared target, and tell it when the action is done.
 * The guard's answer comes back as this activity's result, which no UI signal can forge.
 */
import { Context } from '@temporalio/activity';
import { WorkflowIdConflictPolicy } from '@temporalio/common';
import { stateQuery } from '../workflows/definitions';
import {
  TARGET_LEASE_WORKFLOW_TYPE,
  targetActionUpdate,
  targetDoneSignal,
  targetLeaseWorkflowId,
  type TargetDone,
  type TargetLeaseInput,
  type TargetLeasePolicy,
  type TargetReply,
  type TargetRequest,
} from '../workflows/target-lease';
import { describeError, FailureType, retryable } from './errors';

export interface TargetGuardDeps {
  /** Overrides of the guard's policy (rate limit, lease), given when a target's guard starts. */
  policy?: Partial<TargetLeasePolicy>;
}

export const createTargetGuardActivities = (deps: TargetGuardDeps = {}) => ({
  /** Starts the target's guard if it is not running, then asks it; waits (heartbeating) for its turn. */
  async requestTargetAction(input: { request: TargetRequest }): Promise<TargetReply> {
    const ctx = Context.current();
    const client = ctx.client;
    const { target } = input.request;
    const workflowId = targetLeaseWorkflowId(target);
    const beat = setInterval(() => ctx.heartbeat({ waitingFor: workflowId }), 5_000);
    try {
      const args: [TargetLeaseInput] = [{ target, policy: deps.policy }];
      await client.workflow.start(TARGET_LEASE_WORKFLOW_TYPE, {
        taskQueue: ctx.info.taskQueue,
        workflowId,
        args,
        workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING,
        staticSummary: `Target guard: ${target}`,
        staticDetails:
          'Grants or refuses restarts, stops, starts and scaling of this target; keeps P0-4 holds.',
      });
      return await client.workflow
        .getHandle(workflowId)
        .executeUpdate(targetActionUpdate, { args: [input.request], updateId: input.request.requestId });
    } catch (err) {
      throw retryable(FailureType.DependencyUnavailable, `target guard ${workflowId}: ${describeError(err)}`);
    } finally {
      clearInterval(beat);
    }
  },

  async reportTargetActionDone(input: { target: string; done: TargetDone }): Promise<void> {
    const handle = Context.current().client.workflow.getHandle(targetLeaseWorkflowId(input.target));
    try {
      await handle.signal(targetDoneSignal, input.done);
    } catch (err) {
      throw retryable(FailureType.DependencyUnavailable, `target guard: ${describeError(err)}`);
    }
  },

  /** For the guard: has this holder an accepted approval? Read from the holder's own state. */
  async holderApproval(input: { holderWorkflowId: string }): Promise<{ approved: boolean; detail: string }> {
    const handle = Context.current().client.workflow.getHandle(input.holderWorkflowId);
    try {
      const state = await handle.query(stateQuery);
      const approved = (state.approvals ?? []).filter((g) => g.status === 'approved');
      if (approved.length === 0) return { approved: false, detail: 'no gate of that incident is approved' };
      return {
        approved: true,
        detail: approved
          .map(
            (g) =>
              `${g.gate} approved by ${g.approvedBy.map((a) => `${a.approver} (${a.roles.join('/')})`).join(', ')}`,
          )
          .join('; '),
      };
    } catch (err) {
      return { approved: false, detail: `cannot read the holder's state: ${describeError(err)}` };
    }
  },
});
