/**
 * `runbooks resolve` and `runbooks abandon`: the two ways a person asks an incident to end. Neither
 * ends it by itself: resolve makes the runbook check the end state, abandon takes the abandon role's code.
 */
import { abandonSignal, resolveSignal } from '../../definitions/messages';
import { CliError, notFound, withClient, type Cli } from './common';

export function resolveAbandonCommands({ program, print }: Cli): void {
  for (const [name, signal, description] of [
    [
      'resolve',
      resolveSignal,
      'claim an incident is resolved: the runbook checks the end state itself (health 200, pool < 70 %, ...) and stays open, escalating, while the check fails',
    ],
    [
      'abandon',
      abandonSignal,
      'ask to abandon an incident (no more automation or escalation): the abandon role (default CTO) gets a one-time code; with --code, confirm as that person',
    ],
  ] as const) {
    const cmd = program
      .command(name)
      .description(description)
      .argument('<workflowId>', 'the incident workflow ID')
      .requiredOption('--reason <text>', 'why')
      .option('--by <name>', 'who (with --code: your approver id)', process.env.USER ?? 'operator');
    if (name === 'abandon') cmd.option('--code <code>', 'your one-time code (as the CTO, to confirm)');
    cmd.action(async (workflowId: string, o: { reason: string; by: string; code?: string }) => {
      await withClient(async (client) => {
        const handle = client.workflow.getHandle(workflowId);
        const d = await handle.describe().catch(notFound(workflowId));
        if (d.status.name !== 'RUNNING') {
          throw new CliError(
            `Incident ${workflowId} is already closed (${d.status.name.toLowerCase()}); nothing to ${name}. See: runbooks status ${workflowId}`,
          );
        }
        await handle.signal(signal, { by: o.by, reason: o.reason, ...(o.code ? { code: o.code } : {}) });
        const next =
          name === 'resolve'
            ? 'The runbook now checks the end state; the incident closes only if the check passes.'
            : o.code
              ? 'Your code is checked like an approval.'
              : 'The abandon role has been asked for a one-time code; the incident goes on until they confirm.';
        print(`Sent ${name} to ${workflowId}. ${next} Check with: runbooks status ${workflowId}`, {
          workflowId,
          signal: name,
          by: o.by,
        });
      });
    });
  }
}
