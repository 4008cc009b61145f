/** `runbooks list`: open incidents (closed ones too with --all) and the open post-incident duties. */
import type { Client, WorkflowExecutionInfo } from '@temporalio/client';
import { RUNBOOK_IDS, RUNBOOKS } from '../../definitions/catalog';
import {
  AwaitingApprovalKey,
  EscalatedKey,
  IncidentStatusKey,
  RunbookIdKey,
  SeverityKey,
  TargetServiceKey,
} from '../../workflows/search-attributes';
import { followUpListQuery, followUpRow, type ListedFollowUp } from '../follow-up';
import { incidentState } from '../incidents';
import { TARGET_NAME } from '../intake/mapping';
import { CliError, formatTable, minutesAgo, withClient, type Cli } from './common';

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

interface ListOpts {
  all?: boolean;
  runbook?: string;
  severity?: string;
  target?: string;
  escalated?: boolean;
  awaitingApproval?: boolean;
  limit: string;
}

const incidentWorkflowTypes = () => [...new Set(Object.values(RUNBOOKS).map((r) => r.workflowType))];

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
  return [
    ...formatTable(
      ['WORKFLOW ID', 'RUNBOOK', 'SEV', 'TARGET', 'STATUS', 'STEP', 'AGE', 'ESCALATED', 'APPROVAL'],
      rows.map((r) => [
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

/** Runbook, severity and target narrow the follow-ups too; the follow-ups are always the open ones. */
function filtersOf(o: ListOpts): string[] {
  const filters: string[] = [];
  if (o.runbook)
    filters.push(`RunbookId = ${keyword('runbook', o.runbook, /^P[01]-[1-4]$/, RUNBOOK_IDS.join(', '))}`);
  if (o.severity) filters.push(`Severity = ${keyword('severity', o.severity, /^P[01]$/, 'P0 or P1')}`);
  if (o.target)
    filters.push(`TargetService = ${keyword('target', o.target, TARGET_NAME, 'a container name')}`);
  return filters;
}

function incidentQuery(o: ListOpts, filters: string[]): string {
  const clauses = [
    `WorkflowType IN (${incidentWorkflowTypes()
      .map((t) => `'${t}'`)
      .join(', ')})`,
    ...(o.all ? [] : [`ExecutionStatus = 'Running'`]),
    ...filters,
  ];
  if (o.escalated) clauses.push('Escalated = true');
  if (o.awaitingApproval) clauses.push('AwaitingApproval = true');
  return clauses.join(' AND ');
}

async function listIncidents(client: Client, query: string, limit: number): Promise<ListedIncident[]> {
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
  return rows;
}

export function listCommand({ program, print }: Cli): void {
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
    .action(async (o: ListOpts) => {
      const limit = Number(o.limit);
      if (!Number.isInteger(limit) || limit < 1 || limit > 1000) {
        throw new CliError('--limit must be a whole number from 1 to 1000', 2);
      }
      const filters = filtersOf(o);
      const query = incidentQuery(o, filters);
      await withClient(async (client) => {
        const rows = await listIncidents(client, query, limit);
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
    });
}
