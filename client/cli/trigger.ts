/** `runbooks trigger`: start a runbook by hand (or join the running incident for its target). */
import { RUNBOOK_IDS, RUNBOOKS } from '../../definitions/catalog';
import { POLICY_DEFAULTS } from '../../definitions/policies';
import { loosenedFields } from '../../definitions/policies/gate-policy';
import type { RunbookId, Trigger } from '../../definitions/types';
import { RUNBOOK_WORKFLOWS, startIncident, type StartableRunbook } from '../incidents';
import { TARGET_NAME } from '../intake/mapping';
import { CHARGE_ID } from '../intake/schema';
import { CliError, withClient, type Cli } from './common';
import { printablePlan, waitForPlan } from './dry-run';

interface TriggerOpts {
  target: string;
  by: string;
  description?: string;
  charge?: string[];
  policy?: string;
  dryRun?: boolean;
  wait: string;
}

/** Every check before anything starts: the runbook, the target, what the runbook needs. */
function checkTrigger(runbook: string, o: TriggerOpts): asserts runbook is StartableRunbook {
  if (!RUNBOOK_IDS.includes(runbook as RunbookId)) {
    throw new CliError(`Unknown runbook "${runbook}". Known runbooks: ${RUNBOOK_IDS.join(', ')}`, 2);
  }
  if (!Object.hasOwn(RUNBOOK_WORKFLOWS, runbook)) {
    throw new CliError(
      `Runbook ${runbook} (${RUNBOOKS[runbook as RunbookId].name}) has no workflow in this build yet. ` +
        `Runbooks that can start: ${Object.keys(RUNBOOK_WORKFLOWS).join(', ')}`,
      2,
    );
  }
  if (!TARGET_NAME.test(o.target)) {
    throw new CliError(`--target "${o.target}" is not a container name (letters, digits, _ . -)`, 2);
  }
  if (runbook === 'P0-3' && !o.charge?.length) {
    throw new CliError('P0-3 needs the charge IDs: --charge ch_... [--charge ch_...]', 2);
  }
  const badCharge = o.charge?.find((c) => !CHARGE_ID.test(c));
  if (badCharge) {
    throw new CliError(
      `--charge "${badCharge}" is not a Stripe charge (ch_…) or payment intent (pi_…) ID`,
      2,
    );
  }
  if (runbook === 'P0-4' && !o.description?.trim()) {
    throw new CliError('P0-4 needs a description of the violation: --description "..."', 2);
  }
}

/** --policy: a JSON object that may tighten the runbook's gates, never loosen them. */
function policyOverrides(runbook: RunbookId, text: string | undefined): Record<string, unknown> | undefined {
  if (!text) return undefined;
  let policy: Record<string, unknown>;
  try {
    policy = JSON.parse(text) as Record<string, unknown>;
  } catch (err) {
    throw new CliError(`--policy is not JSON: ${(err as Error).message}`, 2);
  }
  if (!policy || typeof policy !== 'object' || Array.isArray(policy)) {
    throw new CliError('--policy must be a JSON object', 2);
  }
  const loosened = loosenedFields(POLICY_DEFAULTS[runbook], policy);
  if (loosened.length) {
    throw new CliError(
      `--policy refused: it may tighten a gate, never loosen it (nothing was started):\n  - ${loosened.join('\n  - ')}`,
      2,
    );
  }
  return policy;
}

export function triggerCommand({ program, print }: Cli): void {
  program
    .command('trigger')
    .description(
      'start a runbook by hand; joins the running incident for the same runbook and target instead of starting a second one',
    )
    .argument(
      '<runbook>',
      `runbook ID: ${RUNBOOK_IDS.map((id) => `${id} (${RUNBOOKS[id].name})`).join(', ')}`,
    )
    .option('--target <container>', 'target service / container', 'accubooks-api')
    .option('--by <name>', 'who is starting it', process.env.USER ?? 'operator')
    .option('--description <text>', 'what was seen (required for P0-4: what leaked or was miscalculated)')
    .option('--charge <id...>', 'P0-3: the Stripe charge ID(s) reported as incorrect (required for P0-3)')
    .option('--policy <json>', 'policy overrides as JSON, e.g. \'{"escalateAfterMs": 60000}\' (game days)')
    .option(
      '--dry-run',
      'rehearse: every check real, every action, page and notice only planned ("would ..."), with the target guard\'s answer; prints the plan',
    )
    .option('--wait <seconds>', 'with --dry-run: how long to wait for the plan', '120')
    .addHelpText(
      'after',
      '\nExamples:\n  runbooks trigger P0-1 --target accubooks-api --description "API not answering"\n' +
        '  runbooks trigger P0-3 --charge ch_123 --charge ch_456 --description "customer charged twice"\n' +
        '  runbooks trigger P0-4 --description "tenant A saw tenant B invoices"\n' +
        '  runbooks trigger P0-1 --dry-run   # the plan of what P0-1 would do now; nothing is done',
    )
    .action(async (runbook: string, o: TriggerOpts) => {
      checkTrigger(runbook, o);
      const waitMs = Number(o.wait) * 1000;
      if (!Number.isFinite(waitMs) || waitMs <= 0)
        throw new CliError(`--wait "${o.wait}" is not a number of seconds`, 2);
      const policy = policyOverrides(runbook, o.policy);
      const trigger: Trigger = { source: 'manual', startedBy: o.by, description: o.description };
      // Runbook-specific input (workflows/billing-error.ts, workflows/data-integrity.ts).
      const extraInput =
        runbook === 'P0-3'
          ? { charges: o.charge, reportedBy: o.by }
          : runbook === 'P0-4'
            ? { violation: o.description }
            : undefined;
      await withClient(async (client, taskQueue) => {
        const handle = await startIncident({
          client,
          taskQueue,
          runbook,
          target: o.target,
          trigger,
          policy,
          extraInput,
          dryRun: o.dryRun,
        });
        if (o.dryRun) {
          const state = await waitForPlan(client, handle.workflowId, waitMs);
          print(printablePlan(handle.workflowId, state), {
            workflowId: handle.workflowId,
            dryRun: state.dryRun,
            state,
          });
          return;
        }
        print(
          `Started (or joined) ${runbook} on ${o.target}: workflow ${handle.workflowId}\nNext: runbooks status ${handle.workflowId}`,
          { workflowId: handle.workflowId, runId: handle.firstExecutionRunId, runbook, target: o.target },
        );
      });
    });
}
