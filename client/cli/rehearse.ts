/**
 * `runbooks rehearse <incident workflow ID>`: a past incident as a rehearsal. Starts a dry run
 * (workflows/dry-run.ts) of the same runbook on the same target with the original alert payload and
 * policy (the incident's start input, from its history), then prints today's plan and where it
 * differs from what was done then (the mutating actions and pages in the original's history).
 */
import type { Client } from '@temporalio/client';
import { actionsOfHistory, planDiff, plannedKinds } from '../../common/report/plan';
import { buildModel, fetchIncidentHistory } from '../../common/report';
import { RUNBOOK_IDS } from '../../definitions/catalog';
import type { IncidentInput } from '../../definitions/types';
import { RUNBOOK_WORKFLOWS, startIncident, type StartableRunbook } from '../incidents';
import { CliError, notFound, withClient, type Cli } from './common';
import { printablePlan, waitForPlan } from './dry-run';

const WORKFLOW_RUNBOOK = Object.fromEntries(
  Object.entries(RUNBOOK_WORKFLOWS).map(([id, type]) => [type, id as StartableRunbook]),
) as Record<string, StartableRunbook>;

/** The original incident's runbook and start input, from its history (never from its current state). */
async function originalOf(client: Client, workflowId: string) {
  const history = await fetchIncidentHistory(client, workflowId).catch(notFound(workflowId));
  const model = buildModel(history);
  const runbook = WORKFLOW_RUNBOOK[model.workflowType];
  if (!runbook)
    throw new CliError(
      `${workflowId} is a ${model.workflowType} workflow, not an incident of a runbook (${RUNBOOK_IDS.join(', ')})`,
      2,
    );
  const input = model.input as (IncidentInput & Record<string, unknown>) | undefined;
  if (!input?.trigger || typeof input.target !== 'string')
    throw new CliError(`${workflowId}: its start input cannot be read (encrypted, or not an incident's)`);
  if (input.dryRun) throw new CliError(`${workflowId} is itself a dry run: rehearse the real incident`, 2);
  return { runbook: runbook, input, done: actionsOfHistory(history) };
}

export function rehearseCommand({ program, print }: Cli): void {
  program
    .command('rehearse')
    .description(
      "replay a past incident as a rehearsal: a dry run with its alert payload and policy, and where today's plan differs from what was done then",
    )
    .argument('<workflowId>', 'the past (or running) incident workflow ID')
    .option('--wait <seconds>', 'how long to wait for the plan', '120')
    .action(async (workflowId: string, o: { wait: string }) => {
      const waitMs = Number(o.wait) * 1000;
      if (!Number.isFinite(waitMs) || waitMs <= 0)
        throw new CliError(`--wait "${o.wait}" is not a number of seconds`, 2);
      await withClient(async (client, taskQueue) => {
        const { runbook, input, done } = await originalOf(client, workflowId);
        const { incidentId: _id, target, trigger, policy, followUp: _f, ...extraInput } = input;
        const handle = await startIncident({
          client,
          taskQueue,
          runbook,
          target,
          trigger,
          policy: policy,
          extraInput,
          dryRun: true,
          rehearsalOf: workflowId,
        });
        const state = await waitForPlan(client, handle.workflowId, waitMs);
        const diffs = planDiff(plannedKinds(state), done);
        const then = done.map((d, i) => `  ${String(i + 1).padStart(2)}. ${d.kind.padEnd(12)} ${d.action}`);
        print(
          [
            printablePlan(handle.workflowId, state),
            '',
            `What ${workflowId} did then (${done.length} action${done.length === 1 ? '' : 's'}):`,
            ...(then.length ? then : ['  nothing']),
            '',
            diffs.length ? `Differences:\n${diffs.map((d) => `  ${d}`).join('\n')}` : 'Differences: none',
          ].join('\n'),
          {
            workflowId: handle.workflowId,
            rehearsalOf: workflowId,
            plan: state.dryRun?.plan,
            done,
            differences: diffs,
          },
        );
      });
    });
}
