/**
 * Malformed signals sent with the Temporal CLI (`temporal workflow signal --input '...'`, as a person
 * at 3 a.m. would type them) to a running P0-1 incident: each is refused or ignored and recorded, the
 * workflow never fails a task or blocks, and a well-formed `resolve` still closes it afterwards.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { Client } from '@temporalio/client';
import { NativeConnection, type Worker } from '@temporalio/worker';
import { createActivities } from '../../activities';
import { connectClient } from '../../client/connection';
import { startIncident } from '../../client/incidents';
import { loadTemporalConfig } from '../../config/temporal';
import { stateQuery } from '../../definitions/messages';
import { targetLeaseWorkflowId } from '../../definitions/target-guard';
import { testClients } from '../../rig/deps';
import { need, uniqueId } from '../../rig/env';
import { waitUntil } from '../../rig/sandbox';
import { createTestWorker } from '../../rig/temporal';

const run = promisify(execFile);
const taskQueue = uniqueId('malformed');
let worker: Worker;
let running: Promise<void>;
let client: Client;
let clients: ReturnType<typeof testClients>;
/** Workflows a test leaves behind (the target's guard, the follow-up): ended in afterAll. */
const leftovers: string[] = [];

beforeAll(async () => {
  clients = testClients({ health: { apiUrls: {} } });
  worker = await createTestWorker({
    connection: await NativeConnection.connect({ address: need('TEMPORAL_ADDRESS') }),
    taskQueue,
    activities: createActivities(clients.deps),
  });
  running = worker.run();
  client = await connectClient(loadTemporalConfig());
});

afterAll(async () => {
  await Promise.allSettled(
    leftovers.map((id) => client.workflow.getHandle(id).terminate('malformed-signals test finished')),
  );
  worker?.shutdown();
  await running;
  await client?.connection.close();
  await clients?.close();
});

/** `temporal workflow signal`; resolves with the CLI's exit status and stderr (a refusal by the CLI itself is fine). */
async function cliSignal(
  workflowId: string,
  name: string,
  inputs: string[],
): Promise<{ ok: boolean; err: string }> {
  const args = [
    'workflow',
    'signal',
    '--address',
    need('TEMPORAL_ADDRESS'),
    '--namespace',
    loadTemporalConfig().namespace,
  ];
  args.push('--workflow-id', workflowId, '--name', name, ...inputs.flatMap((i) => ['--input', i]));
  try {
    await run(need('TEMPORAL_CLI_PATH'), args, { timeout: 20_000 });
    return { ok: true, err: '' };
  } catch (e) {
    return { ok: false, err: String((e as { stderr?: string }).stderr ?? e) };
  }
}

/** Malformed `alert` inputs; `null` crashes the handler today (see the known-bug test below). */
const MALFORMED_ALERTS = [
  'null',
  '{"status": 7, "values": "nope"}',
  '{"status": "resolved", "receivedAt": {"not": "a date"}}',
];

/** [signal, inputs] as typed at the CLI: wrong types, missing fields, extra arguments, not JSON at all. */
const MALFORMED: [string, string[]][] = [
  ['alert', ['"firing"']],
  ['resolve', ['null']],
  ['resolve', ['"fixed it"']],
  ['resolve', ['{}']],
  ['resolve', ['{"by": 5, "reason": ["x"]}']],
  ['resolve', ['{"by": "   ", "reason": "blank name"}']],
  ['resolve', ['[1, 2, 3]']],
  ['resolve', ['{"by": "a"}', '{"reason": "b"}']],
  ['abandon', ['{"by": "x"}']],
  ['abandon', ['true']],
  ['approval', ['{"approver": "ceo", "code": 12345}']],
  ['no-such-signal', ['{}']],
  ['resolve', ['{not json']],
];

test('malformed CLI signals are refused and recorded; the incident neither fails nor blocks', async () => {
  const workflowId = uniqueId('malformed-P0-1');
  // A target of its own: its guard workflow lives on this run's task queue only.
  const target = uniqueId('abk-malformed');
  leftovers.push(targetLeaseWorkflowId(target));
  const handle = await startIncident({
    client,
    taskQueue,
    runbook: 'P0-1',
    target,
    trigger: { source: 'manual', startedBy: 'malformed-signals test' },
    workflowId,
  });
  await waitUntil('the first steps', async () => (await handle.query(stateQuery)).steps.length > 0, 30_000);

  const table: string[] = [];
  for (const [name, inputs] of MALFORMED) {
    const r = await cliSignal(workflowId, name, inputs);
    const state = await handle.query(stateQuery);
    const desc = await handle.describe();
    table.push(
      `${name.padEnd(15)} ${inputs.join(' ').slice(0, 50).padEnd(52)} ${r.ok ? 'sent' : 'CLI refused'}  ${desc.status.name} ${state.status}`,
    );
    expect(desc.status.name).toBe('RUNNING');
    expect(state.status).not.toBe('resolved');
    expect(state.status).not.toBe('abandoned');
  }

  console.log(`malformed signals via the temporal CLI:\n${table.join('\n')}`);

  // Refusals of closes are recorded as decisions, one per malformed resolve/abandon that reached the workflow.
  const state = await handle.query(stateQuery);
  const ignored = state.decisions.filter((d) => /Ignored a (resolve|abandon) signal/.test(d));
  expect(ignored.length).toBeGreaterThanOrEqual(8);

  // Not blocked, and not silenced by a claim: a well-formed resolve from the CLI is checked against the
  // runbook's own end state (health 200); the target does not exist, so it is refused, recorded with
  // who asked, and the P0 stays open (its escalation timer keeps running).
  const r = await cliSignal(workflowId, 'resolve', ['{"by": "Jane On-call", "reason": "fixed by hand"}']);
  expect(r).toEqual({ ok: true, err: '' });
  await waitUntil(
    'the resolve to be checked',
    async () => (await handle.query(stateQuery)).closeRequests?.some((c) => c.outcome === 'refused') ?? false,
    60_000,
  );
  const after = await handle.query(stateQuery);
  expect(after.closeRequests).toContainEqual(
    expect.objectContaining({ action: 'resolve', by: 'Jane On-call', outcome: 'refused' }),
  );
  expect(after.status).not.toBe('resolved');
  expect(after.closedBy).toBeUndefined();
  expect((await handle.describe()).status.name).toBe('RUNNING');
  const history = await handle.fetchHistory();
  const taskFailures = (history.events ?? []).filter((e) => e.workflowTaskFailedEventAttributes);
  expect(taskFailures).toHaveLength(0);
  await handle.terminate('test done');
}, 120_000);

/**
 * The `alert` handler once read `event.status` without checking the input, so `--input null` failed
 * the workflow task forever and blocked the incident. Now every malformed alert is refused and
 * recorded in the decisions.
 */
test('malformed CLI alert signals neither fail a workflow task nor block the incident', async () => {
  const rows: string[] = [];
  const blocked: string[] = [];
  for (const input of MALFORMED_ALERTS) {
    const workflowId = uniqueId('malformed-alert');
    const target = uniqueId('abk-malformed');
    leftovers.push(targetLeaseWorkflowId(target));
    const handle = await startIncident({
      client,
      taskQueue,
      runbook: 'P0-1',
      target,
      trigger: { source: 'manual', startedBy: 'malformed-signals test' },
      workflowId,
    });
    try {
      await waitUntil(
        'the first steps',
        async () => (await handle.query(stateQuery)).steps.length > 0,
        30_000,
      );
      const r = await cliSignal(workflowId, 'alert', [input]);
      await new Promise((res) => setTimeout(res, 3000));
      const events = (await handle.fetchHistory()).events ?? [];
      const failed = events.filter((e) => e.workflowTaskFailedEventAttributes).length;
      rows.push(
        `alert ${input.padEnd(60)} ${r.ok ? 'sent' : 'CLI refused'}  workflow task failures: ${failed}`,
      );
      if (failed) blocked.push(input);
      const decisions = (await handle.query(stateQuery)).decisions;
      if (!decisions.some((d) => d.includes('Ignored a malformed alert signal'))) {
        blocked.push(`${input} (not recorded)`);
      }
    } finally {
      await handle.terminate('malformed-signals test finished').catch(() => undefined);
    }
  }

  console.log(`malformed alert signals via the temporal CLI:\n${rows.join('\n')}`);
  expect(blocked).toEqual([]);
}, 120_000);
