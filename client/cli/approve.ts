/** `runbooks approve` and `runbooks reject`: an approver's decision with their one-time code. */
import { submitApproval, type ApprovalAttempt } from '../approvals';
import { CliError, notFound, withClient, type Cli } from './common';

export function approvalCommands({ program, print }: Cli): void {
  for (const decision of ['approve', 'reject'] as const) {
    program
      .command(decision)
      .description(
        `${decision} what the incident waits for (e.g. resume billing) with your one-time code; shows the workflow's answer`,
      )
      .argument('<workflowId>', 'the incident workflow ID')
      .requiredOption('--code <code>', 'the one-time code sent to you over your own channel')
      .requiredOption('--reason <text>', 'why (recorded in the incident)')
      .option(
        '--by <approver>',
        'your approver ID as in the approver directory',
        process.env.USER ?? 'operator',
      )
      .action(async (workflowId: string, o: { code: string; reason: string; by: string }) => {
        const attempt: ApprovalAttempt = { approver: o.by, decision, reason: o.reason, code: o.code };
        await withClient(async (client) => {
          const handle = client.workflow.getHandle(workflowId);
          await handle.describe().catch(notFound(workflowId));
          let answer;
          try {
            answer = await submitApproval(handle, attempt);
          } catch (err) {
            const message = (err as { cause?: Error }).cause?.message ?? (err as Error).message;
            throw new CliError(
              `Incident ${workflowId} did not take the ${decision} (${message}). Check what it waits for: runbooks status ${workflowId}`,
            );
          }
          const data = {
            workflowId,
            decision,
            approver: o.by,
            accepted: answer.accepted,
            message: answer.message,
            attempt: answer.attempt,
            gate: answer.gate,
          };
          if (!answer.accepted) {
            throw new CliError(
              `Refused: ${answer.message}\nThe attempt is recorded in the incident. Check the code you received and your role, then retry.`,
              3,
              data,
            );
          }
          print(`Accepted: ${answer.message}\nNext: runbooks status ${workflowId}`, data);
        });
      });
  }
}
