#!/usr/bin/env node
/**
 * The operator CLI: start, inspect and close incidents from a terminal.
 * Every subcommand has --help; --json prints machine-readable output; failures exit non-zero with a
 * message that says what to do next.
 */
import { Command, Option } from 'commander';
import type { Client } from '@temporalio/client';
import { ConfigError, loadTemporalConfig } from '../config';
import { connectClient } from './connection';
import { incidentState, RUNBOOK_WORKFLOWS, startIncident, type StartableRunbook } from './incidents';
import { abandonSignal, resolveSignal } from '../workflows/definitions';
import type { IncidentState } from '../workflows/types';

class CliError extends Error {
  constructor(
    message: string,
    readonly code = 1,
  ) {
    super(message);
  }
}

interface GlobalOpts {
  json?: boolean;
}

function print(opts: GlobalOpts, human: string, data: unknown): void {
  process.stdout.write(opts.json ? `${JSON.stringify(data, null, 2)}\n` : `${human}\n`);
}

async function withClient<T>(fn: (client: Client, taskQueue: string) => Promise<T>): Promise<T> {
  const cfg = loadTemporalConfig();
  let client: Client;
  try {
    client = await connectClient(cfg);
  } catch (err) {
    throw new CliError(
      `Cannot reach Temporal at ${cfg.address} (namespace ${cfg.namespace}): ${(err as Error).message}\n` +
        'Check TEMPORAL_ADDRESS, or start the local stack with scripts/demo.sh.',
    );
  }
  try {
    return await fn(client, cfg.taskQueue);
  } finally {
    await client.connection.close();
  }
}

export function formatState(s: IncidentState): string {
  const lines = [
    `${s.title}  [${s.status}]`,
    `incident ${s.incidentId}  severity ${s.severity}  target ${s.target}`,
    `current step: ${s.currentStep}`,
    `detected ${s.mttr.detectedAt}; MTTR target ${Math.round(s.mttr.targetMs / 60_000)} min${s.mttr.breached ? ' (BREACHED)' : ''}` +
      (s.mttr.timeToResolveMs !== undefined
        ? `; resolved in ${Math.round(s.mttr.timeToResolveMs / 1000)} s`
        : ''),
    '',
    'steps:',
    ...s.steps.map(
      (st) =>
        `  ${st.status.padEnd(7)} ${st.title}${st.result ? ` — ${st.result}` : ''}${st.error ? ` — ERROR ${st.error}` : ''}`,
    ),
  ];
  if (s.escalations.length) {
    lines.push(
      '',
      'escalations:',
      ...s.escalations.map(
        (e) => `  ${e.at} ${e.tier}: ${e.reason} (delivered: ${e.delivered.join(', ') || 'none'})`,
      ),
    );
  }
  if (Object.keys(s.failing).length) {
    lines.push('', 'failing checks:', ...Object.entries(s.failing).map(([k, v]) => `  ${k}: ${v}`));
  }
  if (s.outcome) lines.push('', `outcome: ${s.outcome}`);
  return lines.join('\n');
}

export function buildCli(): Command {
  const program = new Command('runbooks')
    .description('AccuBooks incident runbooks (Temporal). Connection from TEMPORAL_* environment variables.')
    .addOption(new Option('--json', 'machine-readable JSON output'))
    .showHelpAfterError();

  program
    .command('trigger')
    .description('start a runbook by hand (joins the running incident for the same runbook and target)')
    .argument('<runbook>', `runbook ID: ${Object.keys(RUNBOOK_WORKFLOWS).join(', ')}`)
    .option('--target <container>', 'target service / container', 'accubooks-api')
    .option('--by <name>', 'who is starting it', process.env.USER ?? 'operator')
    .option('--description <text>', 'what was seen')
    .action(async (runbook: string, o: { target: string; by: string; description?: string }) => {
      if (!(runbook in RUNBOOK_WORKFLOWS)) {
        throw new CliError(
          `Unknown runbook "${runbook}". Known runbooks: ${Object.keys(RUNBOOK_WORKFLOWS).join(', ')}`,
          2,
        );
      }
      await withClient(async (client, taskQueue) => {
        const handle = await startIncident({
          client,
          taskQueue,
          runbook: runbook as StartableRunbook,
          target: o.target,
          trigger: { source: 'manual', startedBy: o.by, description: o.description },
        });
        print(
          program.opts(),
          `Started ${runbook} on ${o.target}: workflow ${handle.workflowId}\nNext: runbooks status ${handle.workflowId}`,
          {
            workflowId: handle.workflowId,
            runId: handle.firstExecutionRunId,
          },
        );
      });
    });

  program
    .command('status')
    .description("an incident's current state, human-readable")
    .argument('<workflowId>', 'the incident workflow ID (see `runbooks list`)')
    .action(async (workflowId: string) => {
      await withClient(async (client) => {
        const state = await incidentState(client.workflow.getHandle(workflowId)).catch((err: Error) => {
          throw new CliError(
            `Cannot read incident ${workflowId}: ${err.message}\nList incidents with: runbooks list`,
          );
        });
        print(program.opts(), formatState(state), state);
      });
    });

  for (const [name, signal, verb] of [
    ['resolve', resolveSignal, 'resolved'],
    ['abandon', abandonSignal, 'abandoned'],
  ] as const) {
    program
      .command(name)
      .description(`mark an incident ${verb} by a person (the runbook stops acting)`)
      .argument('<workflowId>', 'the incident workflow ID')
      .requiredOption('--reason <text>', 'why')
      .option('--by <name>', 'who', process.env.USER ?? 'operator')
      .action(async (workflowId: string, o: { reason: string; by: string }) => {
        await withClient(async (client) => {
          await client.workflow.getHandle(workflowId).signal(signal, { by: o.by, reason: o.reason });
          print(
            program.opts(),
            `Asked ${workflowId} to close as ${verb}. Check with: runbooks status ${workflowId}`,
            {
              workflowId,
              signal: name,
            },
          );
        });
      });
  }
  return program;
}

async function main(argv: string[]): Promise<void> {
  try {
    await buildCli().parseAsync(argv);
  } catch (err) {
    const code = err instanceof CliError ? err.code : err instanceof ConfigError ? 2 : 1;
    process.stderr.write(`error: ${(err as Error).message}\n`);
    process.exitCode = code;
  }
}

if (require.main === module) void main(process.argv);
