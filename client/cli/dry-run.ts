/** What `runbooks trigger --dry-run` and `runbooks rehearse` share: wait for a dry run's plan, print it. */
import type { Client } from '@temporalio/client';
import { planLines } from '../../common/report/plan';
import type { IncidentState } from '../../definitions/types';
import { CliError } from './common';

/**
 * The dry run's final state (its plan), waiting up to `waitMs`: a plan without approvals is ready
 * in seconds; one that waits on an approval is ready when the approvers answer the rehearsal.
 */
export async function waitForPlan(
  client: Client,
  workflowId: string,
  waitMs: number,
): Promise<IncidentState> {
  const handle = client.workflow.getHandle<(input: unknown) => Promise<IncidentState>>(workflowId);
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new CliError(
            `The dry run ${workflowId} has no complete plan after ${Math.round(waitMs / 1000)} s (it may wait for a rehearsal approval). See it with: runbooks status ${workflowId}`,
          ),
        ),
      waitMs,
    );
  });
  try {
    return await Promise.race([handle.result(), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export const printablePlan = (workflowId: string, s: IncidentState) => planLines(workflowId, s).join('\n');
