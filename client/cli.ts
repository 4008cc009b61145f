#!/usr/bin/env node
/**
 * The operator CLI: start, find, inspect, approve and close incidents from a terminal.
 * Every subcommand has --help; --json prints machine-readable output (errors too, on stderr);
 * failures exit non-zero with a message that says what to do next.
 *
 * Exit codes: 0 done; 1 failed (Temporal unreachable, incident not found, ...); 2 usage or config
 * error; 3 the workflow refused (an approval with a wrong code, a close it did not accept).
 */
import { Command, CommanderError, Option } from 'commander';
import { WorkflowNotFoundError } from '@temporalio/common';
import type { Client, WorkflowExecutionInfo } from '@temporalio/client';
import { ConfigError } from '../config/errors';
import { loadTemporalConfig } from '../config/temporal';
import { submitApproval, type ApprovalAttempt } from './approvals';
import { addCharges, badChargeId, billingIncidentId } from './charges';
import { connectClient } from './connection';
import { incidentState, RUNBOOK_WORKFLOWS, startIncident, type StartableRunbook } from './incidents';
import { loosenedFields } from '../definitions/policies/gate-policy';
import { POLICY_DEFAULTS } from '../definitions/policies';
import { TARGET_NAME } from './intake/mapping';
import { CHARGE_ID } from './intake/schema';
import {
  fileFollowUpDuty,
  FollowUpLookupError,
  followUpListQuery,
  followUpRow,
  resolveFollowUpId,
  type FollowUpAction,
  type FollowUpAnswer,
  type ListedFollowUp,
} from './follow-up';
import { runReportCommand } from './report';
import { formatTimeline, timelineFromHistory } from './timeline';
import { RUNBOOK_IDS, RUNBOOKS } from '../definitions/catalog';
import { abandonSignal, resolveSignal } from '../definitions/messages';
import {
  AwaitingApprovalKey,
  EscalatedKey,
  IncidentStatusKey,
  RunbookIdKey,
  SeverityKey,
  TargetServiceKey,
} from '../workflows/search-attributes';
import type { IncidentState, RunbookId, Trigger } from '../definitions/types';

export class CliError extends Error {
  constructor(
    message: string,
    readonly code = 1,
    readonly data?: Record<string, unknown>,
  ) {
    super(message);
  }
}

interface GlobalOpts {
  json?: boolean;
}

const incidentWorkflowTypes = () => [...new Set(Object.values(RUNBOOKS).map((r) => r.workflowType))];

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

/** Turns "workflow not found" into advice; every other error keeps its message. */
function notFound(workflowId: string) {
  return (err: unknown): never => {
    if (err instanceof WorkflowNotFoundError || /not found/i.test((err as Error).message)) {
      throw new CliError(
        `No incident with workflow ID "${workflowId}". List open incidents with: runbooks list (closed ones: runbooks list --all)`,
      );
    }
    throw err;
  };
}

const minutesAgo = (iso: string) => {
  const ms = Date.now() - Date.parse(iso);
  if (!Number.isFinite(ms)) return '?';
  if (ms < 60_000) return `${Math.round(ms / 1000)}s`;
  if (ms < 3_600_000) return `${Math.round(ms / 60_000)}m`;
  return `${(ms / 3_600_000).toFixed(1)}h`;
};

export function formatState(s: IncidentState): string {
  const lines = [
    `${s.title}  [${s.status}]`,
    `incident ${s.incidentId}  severity ${s.severity}  target ${s.target}`,
    `current step: ${s.currentStep}`,
    `detected ${s.mttr.detectedAt}; MTTR target ${Math.round(s.mttr.targetMs / 60_000)} min${s.mttr.breached ? ' (BREACHED)' : ''}` +
      (s.mttr.timeToResolveMs !== undefined
        ? `; resolved in ${Math.round(s.mttr.timeToResolveMs / 1000)} s`
        : ''),
    `trigger: ${s.trigger.source}${s.trigger.alertName ? ` ${s.trigger.alertName}` : ''}${s.trigger.startedBy ? ` by ${s.trigger.startedBy}` : ''}${s.trigger.description ? ` — ${s.trigger.description}` : ''}`,
    `alerts: ${s.alerts.firing} firing, ${s.alerts.resolved} resolved; last ${s.alerts.lastStatus ?? '?'} at ${s.alerts.lastAt ?? '?'}` +
      (s.alerts.latestValues ? `; latest values ${JSON.stringify(s.alerts.latestValues)}` : ''),
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
  if (s.decisions.length) {
    lines.push('', 'decisions (latest 5):', ...s.decisions.slice(-5).map((d) => `  ${d}`));
  }
  if (s.waitingFor) {
    lines.push(
      '',
      `WAITING FOR A PERSON since ${s.waitingFor.since}: ${s.waitingFor.what}`,
      `  send signal "${s.waitingFor.signal}" ${JSON.stringify(s.waitingFor.example)}`,
      `  or: runbooks approve|reject <workflowId> --code <code> --reason <why>`,
    );
  }
  if (s.outcome) lines.push('', `outcome: ${s.outcome}`);
  return lines.join('\n');
}

export interface ListedIncident {
  workflowId: string;
  runbook?: string;
  severity?: string;
  target?: string;
  status?: string;
  executionStatus: string;
  step?: string;
  startedAt: string;
  age: string;
  escalated: boolean;
  awaitingApproval: boolean;
}

function listRow(wf: WorkflowExecutionInfo): ListedIncident {
  const sa = wf.typedSearchAttributes;
  return {
    workflowId: wf.workflowId,
    runbook: sa.get(RunbookIdKey),
    severity: sa.get(SeverityKey),
    target: sa.get(TargetServiceKey),
    status: sa.get(IncidentStatusKey),
    executionStatus: wf.status.name,
    startedAt: wf.startTime.toISOString(),
    age: minutesAgo(wf.startTime.toISOString()),
    escalated: sa.get(EscalatedKey) ?? false,
    awaitingApproval: sa.get(AwaitingApprovalKey) ?? false,
  };
}

function formatTable(header: string[], rows: string[][]): string[] {
  const table = [header, ...rows];
  const widths = header.map((_, i) => Math.max(...table.map((row) => row[i].length)));
  return table.map((row) =>
    row
      .map((c, i) => c.padEnd(widths[i]))
      .join('  ')
      .trimEnd(),
  );
}

function formatFollowUps(rows: ListedFollowUp[]): string {
  if (!rows.length) return 'Open follow-up duties: none.';
  return [
    'Open follow-up duties:',
    ...formatTable(
      ['FOLLOW-UP WORKFLOW ID', 'RUNBOOK', 'SEV', 'TARGET', 'OPEN DUTIES', 'OVERDUE', 'AGE'],
      rows.map((r) => [
        r.workflowId,
        r.runbook ?? '?',
        r.severity ?? '?',
        r.target ?? '?',
        r.openDuties.join(', ') || '-',
        r.overdue ? 'OVERDUE' : 'no',
        minutesAgo(r.startedAt),
      ]),
    ),
    '',
    'File them: runbooks file-report|file-post-mortem <id> --link <url> --author <name>; runbooks runbook-update <id> --needed yes|no --note <text>',
  ].join('\n');
}

function formatList(rows: ListedIncident[], all: boolean): string {
  if (!rows.length) {
    return all
      ? 'No incidents found.'
      : 'No open incidents. Closed ones: runbooks list --all; start one by hand: runbooks trigger <runbook>';
  }
  const header = [
    'WORKFLOW ID',
    'RUNBOOK',
    'SEV',
    'TARGET',
    'STATUS',
    'STEP',
    'AGE',
    'ESCALATED',
    'APPROVAL',
  ];
  const table = [
    header,
    ...rows.map((r) => [
      r.workflowId,
      r.runbook ?? '?',
      r.severity ?? '?',
      r.target ?? '?',
      r.executionStatus === 'RUNNING'
        ? (r.status ?? '?')
        : `${r.status ?? '?'} (${r.executionStatus.toLowerCase()})`,
      (r.step ?? '?').slice(0, 40),
      r.age,
      r.escalated ? 'yes' : 'no',
      r.awaitingApproval ? 'WAITING' : '-',
    ]),
  ];
  const widths = header.map((_, i) => Math.max(...table.map((row) => row[i].length)));
  return [
    ...table.map((row) =>
      row
        .map((c, i) => c.padEnd(widths[i]))
        .join('  ')
        .trimEnd(),
    ),
    '',
    'Details: runbooks status <workflow ID>',
  ].join('\n');
}

/** Resolves after `ms` with undefined, so one silent workflow cannot hold up `list`. */
const within = <T>(ms: number, p: Promise<T>): Promise<T | undefined> =>
  Promise.race([p, new Promise<undefined>((r) => setTimeout(() => r(undefined), ms).unref())]);

function keyword(name: string, value: string, pattern: RegExp, hint: string): string {
  if (!pattern.test(value)) throw new CliError(`--${name} "${value}" is not valid: ${hint}`, 2);
  return `'${value}'`;
}

export function buildCli(io: { out?: (s: string) => void } = {}): Command {
  const out = io.out ?? ((s: string) => process.stdout.write(s));
  const program = new Command('runbooks')
    .description(
      'AccuBooks incident runbooks (Temporal). Connection from TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_TASK_QUEUE (and TLS/API key variables).',
    )
    .addOption(new Option('--json', 'machine-readable JSON output'))
    .showHelpAfterError('(add --help for usage)')
    .exitOverride();
  const print = (human: string, data: unknown) =>
    out((program.opts<GlobalOpts>().json ? JSON.stringify(data, null, 2) : human) + '\n');

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
    .addHelpText(
      'after',
      '\nExamples:\n  runbooks trigger P0-1 --target accubooks-api --description "API not answering"\n' +
        '  runbooks trigger P0-3 --charge ch_123 --charge ch_456 --description "customer charged twice"\n' +
        '  runbooks trigger P0-4 --description "tenant A saw tenant B invoices"',
    )
    .action(
      async (
        runbook: string,
        o: { target: string; by: string; description?: string; charge?: string[]; policy?: string },
      ) => {
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
        let policy: Record<string, unknown> | undefined;
        if (o.policy) {
          try {
            policy = JSON.parse(o.policy) as Record<string, unknown>;
          } catch (err) {
            throw new CliError(`--policy is not JSON: ${(err as Error).message}`, 2);
          }
          if (!policy || typeof policy !== 'object' || Array.isArray(policy)) {
            throw new CliError('--policy must be a JSON object', 2);
          }
          const loosened = loosenedFields(POLICY_DEFAULTS[runbook as RunbookId], policy);
          if (loosened.length) {
            throw new CliError(
              `--policy refused: it may tighten a gate, never loosen it (nothing was started):\n  - ${loosened.join('\n  - ')}`,
              2,
            );
          }
        }
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
            runbook: runbook as StartableRunbook,
            target: o.target,
            trigger,
            policy,
            extraInput,
          });
          print(
            `Started (or joined) ${runbook} on ${o.target}: workflow ${handle.workflowId}\nNext: runbooks status ${handle.workflowId}`,
            { workflowId: handle.workflowId, runId: handle.firstExecutionRunId, runbook, target: o.target },
          );
        });
      },
    );

  program
    .command('list')
    .description('open incidents: runbook, severity, target, step, age, escalated?, awaiting approval?')
    .option('--all', 'closed incidents too')
    .option('--runbook <id>', 'only this runbook')
    .option('--severity <P0|P1>', 'only this severity')
    .option('--target <container>', 'only this target')
    .option('--escalated', 'only escalated incidents')
    .option('--awaiting-approval', 'only incidents waiting for a person')
    .option('--limit <n>', 'at most this many', '50')
    .action(
      async (o: {
        all?: boolean;
        runbook?: string;
        severity?: string;
        target?: string;
        escalated?: boolean;
        awaitingApproval?: boolean;
        limit: string;
      }) => {
        const limit = Number(o.limit);
        if (!Number.isInteger(limit) || limit < 1 || limit > 1000) {
          throw new CliError('--limit must be a whole number from 1 to 1000', 2);
        }
        // Runbook, severity and target narrow the follow-ups too; the follow-ups are always the open ones.
        const filters: string[] = [];
        if (o.runbook)
          filters.push(
            `RunbookId = ${keyword('runbook', o.runbook, /^P[01]-[1-4]$/, RUNBOOK_IDS.join(', '))}`,
          );
        if (o.severity) filters.push(`Severity = ${keyword('severity', o.severity, /^P[01]$/, 'P0 or P1')}`);
        if (o.target)
          filters.push(`TargetService = ${keyword('target', o.target, TARGET_NAME, 'a container name')}`);
        const clauses = [
          `WorkflowType IN (${incidentWorkflowTypes()
            .map((t) => `'${t}'`)
            .join(', ')})`,
          ...(o.all ? [] : [`ExecutionStatus = 'Running'`]),
          ...filters,
        ];
        if (o.escalated) clauses.push('Escalated = true');
        if (o.awaitingApproval) clauses.push('AwaitingApproval = true');
        const query = clauses.join(' AND ');
        await withClient(async (client) => {
          const rows: ListedIncident[] = [];
          for await (const wf of client.workflow.list({ query })) {
            rows.push(listRow(wf));
            if (rows.length >= limit) break;
          }
          // The current step lives in the workflow state, not in search attributes.
          await Promise.all(
            rows.map(async (r) => {
              const s = await within(
                3000,
                incidentState(client.workflow.getHandle(r.workflowId)).catch(() => undefined),
              );
              r.step = s?.currentStep;
            }),
          );
          // Open post-incident duties, filtered like the incidents (runbook, severity, target).
          const followUpQuery = [followUpListQuery, ...filters].join(' AND ');
          const followUps: ListedFollowUp[] = [];
          // --escalated / --awaiting-approval ask about incidents only.
          if (!o.escalated && !o.awaitingApproval) {
            for await (const wf of client.workflow.list({ query: followUpQuery })) {
              followUps.push(followUpRow(wf));
              if (followUps.length >= limit) break;
            }
          }
          print(`${formatList(rows, !!o.all)}\n\n${formatFollowUps(followUps)}`, {
            query,
            incidents: rows,
            followUpQuery,
            followUps,
          });
        });
      },
    );

  program
    .command('status')
    .description("an incident's current state, human-readable (the workflow's `state` query)")
    .argument('<workflowId>', 'the incident workflow ID (see `runbooks list`)')
    .action(async (workflowId: string) => {
      await withClient(async (client) => {
        const state = await incidentState(client.workflow.getHandle(workflowId)).catch(notFound(workflowId));
        print(formatState(state), state);
      });
    });

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

  program
    .command('history')
    .description(
      "the incident's timeline from its workflow history (steps, timers, signals, approvals, outcome)",
    )
    .argument('<workflowId>', 'the incident workflow ID')
    .option('--limit <n>', 'only the last n entries')
    .action(async (workflowId: string, o: { limit?: string }) => {
      await withClient(async (client) => {
        const history = await client.workflow
          .getHandle(workflowId)
          .fetchHistory()
          .catch(notFound(workflowId));
        let entries = timelineFromHistory(history);
        if (o.limit) entries = entries.slice(-Math.max(1, Number(o.limit) || 1));
        print(
          `${formatTimeline(entries)}\n\nCurrent state: runbooks status ${workflowId}; full report: runbooks report ${workflowId}`,
          { workflowId, entries },
        );
      });
    });

  program
    .command('report')
    .description(
      "an incident's Markdown report from its workflow history (steps, escalations, approval attempts, MTTR, evidence)",
    )
    .argument('[workflowId]', 'the incident workflow ID (not needed with --from-file)')
    .option('--out <file>', 'write the Markdown to this file instead of stdout')
    .option('--from-file <history.json>', 'a history exported as JSON from the Temporal UI or CLI')
    .option('--run-id <runId>', 'a specific run (default: the latest)')
    .option('--svg <file>', 'also write the timeline picture (steps, waits, escalations, MTTR target) as SVG')
    .addHelpText(
      'after',
      '\nExamples:\n  runbooks report incident-P0-1-accubooks-api --out report.md --svg report.svg\n' +
        '  temporal workflow show -w <id> --output json > h.json && runbooks report --from-file h.json',
    )
    .action(
      async (
        workflowId: string | undefined,
        o: { out?: string; fromFile?: string; runId?: string; svg?: string },
      ) => {
        if (!workflowId && !o.fromFile) {
          throw new CliError(
            'Give the incident workflow ID (see: runbooks list --all), or a history file: --from-file history.json',
            2,
          );
        }
        let markdown: string;
        try {
          markdown = await runReportCommand(workflowId, {
            fromFile: o.fromFile,
            out: o.out,
            runId: o.runId,
            svg: o.svg,
          });
        } catch (err) {
          if (err instanceof ConfigError) throw err;
          const message = (err as Error).message;
          const badPath = (err as NodeJS.ErrnoException).path;
          if (badPath && (badPath === o.out || badPath === o.svg)) {
            throw new CliError(`Cannot write ${badPath}: ${message}`, 1);
          }
          if (o.fromFile && /ENOENT|no such file/i.test(message)) {
            throw new CliError(
              `Cannot read ${o.fromFile}: no such file. Export one with: temporal workflow show -w <id> --output json`,
              1,
            );
          }
          if (!o.fromFile && (err instanceof WorkflowNotFoundError || /not found/i.test(message))) {
            notFound(workflowId!)(err);
          }
          throw new CliError(
            `Could not render the report${workflowId ? ` for ${workflowId}` : ''}: ${message}` +
              (o.fromFile ? '\nIs the file a workflow history exported as JSON?' : ''),
          );
        }
        const data = {
          workflowId: workflowId ?? null,
          fromFile: o.fromFile ?? null,
          out: o.out ?? null,
          svg: o.svg ?? null,
          markdown,
        };
        if (o.out) print(`Report written to ${o.out}${o.svg ? `, timeline picture to ${o.svg}` : ''}`, data);
        else if (program.opts<GlobalOpts>().json) print('', data);
        else out(markdown.endsWith('\n') ? markdown : `${markdown}\n`);
      },
    );

  const sendDuty = async (ref: string, action: FollowUpAction, what: string) => {
    await withClient(async (client) => {
      let id: string;
      try {
        id = await resolveFollowUpId(client, ref);
      } catch (err) {
        if (err instanceof FollowUpLookupError) throw new CliError(err.message);
        throw err;
      }
      let answer: FollowUpAnswer;
      try {
        answer = await fileFollowUpDuty(client, id, action);
      } catch (err) {
        throw new CliError(`${what} not confirmed: ${(err as Error).message}. Check with: runbooks list`);
      }
      const open = Object.values(answer.state.duties)
        .filter((d) => d.status === 'open')
        .map((d) => d.duty);
      const data = {
        followUpWorkflowId: id,
        duty: answer.duty,
        accepted: answer.accepted,
        reason: answer.reason,
        followUpStatus: answer.state.status,
        duties: answer.state.duties,
        openDuties: open,
      };
      if (!answer.accepted) {
        throw new CliError(`Refused by the follow-up ${id}: ${answer.reason}`, 3, data);
      }
      const d = answer.state.duties[answer.duty];
      const next =
        answer.duty === 'runbook-update' && d.status === 'open'
          ? `The runbook update stays open until the change is linked (due ${d.dueAt}): runbooks runbook-update ${id} --needed yes --note "..." --link <PR>`
          : open.length
            ? `Still open: ${open.join(', ')}. See: runbooks list`
            : 'Every duty is done; the follow-up closes.';
      print(`Recorded: ${what} for ${id}.\n${next}`, data);
    });
  };

  for (const [name, duty, what] of [
    ['file-report', 'incident-report', 'incident report'],
    ['file-post-mortem', 'post-mortem', 'post-mortem'],
  ] as const) {
    program
      .command(name)
      .description(
        `record that the ${what} is filed (a post-incident duty; closes its reminders and escalation)`,
      )
      .argument('<incident>', 'the follow-up workflow ID, the incident ID, or the incident workflow ID')
      .requiredOption('--link <url>', `where the ${what} is`)
      .requiredOption('--author <name>', `who wrote the ${what}`)
      .option('--note <text>', 'anything worth recording')
      .action(async (ref: string, o: { link: string; author: string; note?: string }) => {
        if (!/^https?:\/\/\S+$/.test(o.link)) {
          throw new CliError(`--link "${o.link}" is not a URL (http:// or https://)`, 2);
        }
        if (!o.author.trim()) throw new CliError('--author must name who wrote it', 2);
        await sendDuty(
          ref,
          { duty, filed: { link: o.link, author: o.author, note: o.note } },
          `${what} filed`,
        );
      });
  }

  program
    .command('runbook-update')
    .description(
      'record whether the runbook needs an update (a post-incident duty); "yes" stays open until --link',
    )
    .argument('<incident>', 'the follow-up workflow ID, the incident ID, or the incident workflow ID')
    .requiredOption('--needed <yes|no>', 'does the runbook need a change?')
    .requiredOption('--note <text>', 'why, or what should change')
    .option('--link <url>', 'the change to the runbook (PR or commit), once it exists')
    .option('--by <name>', 'who decided', process.env.USER ?? 'operator')
    .action(async (ref: string, o: { needed: string; note: string; link?: string; by: string }) => {
      const needed = { yes: true, no: false, true: true, false: false }[o.needed.toLowerCase()];
      if (needed === undefined) throw new CliError(`--needed "${o.needed}" must be yes or no`, 2);
      if (!o.note.trim()) throw new CliError('--note must say why (or what should change)', 2);
      if (o.link && !/^https?:\/\/\S+$/.test(o.link)) {
        throw new CliError(`--link "${o.link}" is not a URL (http:// or https://)`, 2);
      }
      await sendDuty(
        ref,
        { duty: 'runbook-update', decision: { needed, note: o.note, by: o.by, link: o.link } },
        `runbook update decision (${needed ? 'needed' : 'not needed'})`,
      );
    });

  return program;
}

export async function runCli(
  argv: string[],
  io: { out?: (s: string) => void; err?: (s: string) => void } = {},
) {
  const err = io.err ?? ((s: string) => process.stderr.write(s));
  const program = buildCli(io);
  program.configureOutput({
    writeErr: (s) => err(s),
    writeOut: (s) => (io.out ?? process.stdout.write.bind(process.stdout))(s),
  });
  const json = argv.includes('--json');
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      // --help and --version exit 0; usage errors were already printed by commander.
      return e.exitCode === 0 ? 0 : 2;
    }
    const code = e instanceof CliError ? e.code : e instanceof ConfigError ? 2 : 1;
    const message = (e as Error).message;
    err(
      json
        ? `${JSON.stringify({ error: message, exitCode: code, ...(e instanceof CliError ? e.data : {}) })}\n`
        : `error: ${message}\n`,
    );
    return code;
  }
}

if (require.main === module) {
  void runCli(process.argv).then((code) => {
    process.exitCode = code;
  });
}
