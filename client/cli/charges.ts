/** `runbooks charges add`: more incorrect charges for a running billing error incident (P0-3). */
import { addCharges, badChargeId, billingIncidentId } from '../charges';
import { CliError, notFound, withClient, type Cli } from './common';

export function chargesCommands({ program, print }: Cli): void {
  program
    .command('charges')
    .description('P0-3: charges of a running billing error incident')
    .command('add')
    .description(
      'add incorrect charges to a running P0-3 (each refunded within the refund caps; over a cap it waits for the approvers); shows what the workflow did',
    )
    .argument(
      '<incidentOrTarget>',
      'the incident workflow ID, or the target whose P0-3 it is (e.g. accubooks-api)',
    )
    .argument('<charges...>', 'Stripe charge (ch_…) or payment intent (pi_…) IDs')
    .requiredOption('--reason <text>', 'why (recorded in the incident)')
    .option('--by <name>', 'who reports them', process.env.USER ?? 'operator')
    .action(async (incidentOrTarget: string, charges: string[], o: { reason: string; by: string }) => {
      const problem = badChargeId(charges);
      if (problem) throw new CliError(`${problem}; nothing was sent`, 2);
      let workflowId: string;
      try {
        workflowId = billingIncidentId(incidentOrTarget);
      } catch (err) {
        throw new CliError((err as Error).message, 2);
      }
      await withClient(async (client) => {
        const handle = client.workflow.getHandle(workflowId);
        const d = await handle.describe().catch(notFound(workflowId));
        if (d.status.name !== 'RUNNING' || d.type !== 'billingError') {
          throw new CliError(
            `${workflowId} is not a running billing error incident (${d.type}, ${d.status.name.toLowerCase()}); start one with: runbooks trigger P0-3 --target <target> --charge ch_…`,
          );
        }
        let rec;
        try {
          rec = await addCharges(handle, { charges, by: o.by, reason: o.reason });
        } catch (err) {
          throw new CliError(`Incident ${workflowId} did not take the charges (${(err as Error).message})`);
        }
        const data = { workflowId, ...rec };
        if (rec.refusedBecause) throw new CliError(`Refused: ${rec.refusedBecause}`, 3, data);
        print(
          [
            `Added to ${workflowId}: ${rec.added.join(', ') || 'none new'}`,
            rec.duplicates.length ? `Already known (not added twice): ${rec.duplicates.join(', ')}` : '',
            rec.invalid.length ? `Not added: ${rec.invalid.join(', ')}` : '',
            `Each is refunded within the refund caps; over a cap it waits for approval. Check with: runbooks status ${workflowId}`,
          ]
            .filter(Boolean)
            .join('\n'),
          data,
        );
      });
    });
}
