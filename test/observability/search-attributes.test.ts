/**
 * The incident search attributes, listed through the client as the CLI and the UI's filter do
 * (`client.workflow.list({ query })` on the dev server), follow a runbook through its states:
 * P0-1 investigating → remediating → escalated → resolved, and P0-4 awaiting approval → resolved.
 * Visibility is eventually consistent: every expectation polls until the list settles.
 */
import { type WorkflowExecutionInfo } from '@temporalio/client';
import { startIncident } from '../../client/incidents';
import { stateQuery } from '../../definitions/messages';
import { approvalSignal } from '../../definitions/approval';
import {
  AwaitingApprovalKey,
  EscalatedKey,
  IncidentStatusKey,
  RunbookIdKey,
  SeverityKey,
  TargetServiceKey,
} from '../../workflows/search-attributes';
import type { IncidentState, IncidentStatus } from '../../definitions/types';
import { startIncidentRig, type IncidentRig } from '../../rig/incident-rig';
import { uniqueId } from '../../rig/env';
import { waitUntil } from '../../rig/sandbox';
import { listIds, terminateRunning, untilListed } from './watch';

let rig: IncidentRig;

beforeAll(async () => {
  rig = await startIncidentRig({
    name: 'obs-sa',
    server: 'dev',
    approvals: true,
    pagerDutyRoutingKey: 'obs-routing-key',
    chatHook: 'incidents',
  });
  await rig.startWorker();
});

afterAll(async () => {
  if (rig) await terminateRunning(rig.client, rig.sandbox.name);
  await rig?.close();
});

interface Stage {
  runbook: 'P0-1' | 'P0-4';
  status: IncidentStatus;
  escalated: boolean;
  awaitingApproval: boolean;
  execution: 'Running' | 'Completed';
}

/**
 * The incident is listed under every one of its search attributes (each alone, scoped to this
 * test's target), under all of them together, and under no other value of the status.
 */
async function expectListed(workflowId: string, s: Stage): Promise<void> {
  const target = `TargetService = "${rig.sandbox.name}"`;
  const clauses = [
    `RunbookId = "${s.runbook}"`,
    `Severity = "P0"`,
    target,
    `IncidentStatus = "${s.status}"`,
    `Escalated = ${s.escalated}`,
    `AwaitingApproval = ${s.awaitingApproval}`,
  ];
  const all = `${clauses.join(' AND ')} AND ExecutionStatus = "${s.execution}"`;
  await untilListed(rig.client, all, (ids) => ids.includes(workflowId));
  for (const clause of clauses) {
    const scoped = clause === target ? clause : `${target} AND ${clause}`;
    expect(await listIds(rig.client, scoped)).toContain(workflowId);
  }
  expect(await listIds(rig.client, `${target} AND IncidentStatus != "${s.status}"`)).not.toContain(
    workflowId,
  );

  // The values as the list returns them (what the UI's columns show).
  let info: WorkflowExecutionInfo | undefined;
  for await (const w of rig.client.workflow.list({ query: `WorkflowId = "${workflowId}"` })) info = w;
  const sa = info!.typedSearchAttributes;
  expect({
    runbook: sa.get(RunbookIdKey),
    severity: sa.get(SeverityKey),
    target: sa.get(TargetServiceKey),
    status: sa.get(IncidentStatusKey),
    escalated: sa.get(EscalatedKey),
    awaiting: sa.get(AwaitingApprovalKey),
  }).toEqual({
    runbook: s.runbook,
    severity: 'P0',
    target: rig.sandbox.name,
    status: s.status,
    escalated: s.escalated,
    awaiting: s.awaitingApproval,
  });
}

test('P0-1: listed as investigating, remediating, escalated (Escalated = true), then resolved', async () => {
  // Health hangs and keeps hanging after the restart: the first check lasts its full timeout, and
  // the restart does not help, so the compressed escalation timer fires.
  await rig.sandbox.inject({ fault: 'hang', persist: true });
  const workflowId = uniqueId('obs-sa-P0-1');
  const handle = await startIncident({
    client: rig.client,
    taskQueue: rig.taskQueue,
    runbook: 'P0-1',
    target: rig.sandbox.name,
    trigger: { source: 'manual', startedBy: 'observability test' },
    workflowId,
    policy: {
      healthTimeoutMs: 4000,
      verifyWindowMs: 3000,
      verifyIntervalMs: 500,
      stopTimeoutSec: 2,
      maxRestarts: 1,
      escalateAfterMs: 18_000,
      recheckIntervalMs: 1000,
      maxRecheckIntervalMs: 2000,
    },
  });
  const p01 = { runbook: 'P0-1', awaitingApproval: false, execution: 'Running' } as const;
  await expectListed(workflowId, { ...p01, status: 'investigating', escalated: false });
  await expectListed(workflowId, { ...p01, status: 'remediating', escalated: false });
  await expectListed(workflowId, { ...p01, status: 'escalated', escalated: true });
  // The on-call filter from the issue: open P0-1 incidents that escalated.
  expect(
    await listIds(rig.client, 'RunbookId = "P0-1" AND Escalated = true AND ExecutionStatus = "Running"'),
  ).toContain(workflowId);

  await rig.sandbox.clearFaults();
  const final = (await handle.result()) as IncidentState;
  expect(final.status).toBe('resolved');
  // Once escalated, always listed as having escalated.
  await expectListed(workflowId, { ...p01, status: 'resolved', escalated: true, execution: 'Completed' });
});

test('P0-4: AwaitingApproval = true while it waits for the CEO, false once approved', async () => {
  const workflowId = uniqueId('obs-sa-P0-4');
  const handle = await startIncident({
    client: rig.client,
    taskQueue: rig.taskQueue,
    runbook: 'P0-4',
    target: rig.sandbox.name,
    trigger: { source: 'manual', startedBy: 'observability test', description: 'cross-tenant rows seen' },
    extraInput: { violation: 'cross-tenant leakage (observability test)' },
    workflowId,
  });
  await waitUntil(
    'the approval gate',
    async () => (await handle.query(stateQuery)).waitingFor !== undefined,
    90_000,
  );
  const p04 = { runbook: 'P0-4', escalated: false } as const;
  await expectListed(workflowId, {
    ...p04,
    status: 'awaiting-approval',
    awaitingApproval: true,
    execution: 'Running',
  });
  // "Open P0-4 incidents awaiting approval" is one list query.
  expect(
    await listIds(
      rig.client,
      'RunbookId = "P0-4" AND AwaitingApproval = true AND ExecutionStatus = "Running"',
    ),
  ).toContain(workflowId);

  const code = await rig.world.waitForCode('ceo');
  await handle.signal(approvalSignal, {
    approver: 'ceo',
    decision: 'approve',
    code,
    reason: 'leak contained',
  });
  const final = (await handle.result()) as IncidentState;
  expect(final.status).toBe('resolved');
  await expectListed(workflowId, {
    ...p04,
    status: 'resolved',
    awaitingApproval: false,
    execution: 'Completed',
  });
  expect(
    await listIds(
      rig.client,
      'RunbookId = "P0-4" AND AwaitingApproval = true AND ExecutionStatus = "Running"',
    ),
  ).not.toContain(workflowId);
});
