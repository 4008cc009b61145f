/**
 * History size (issue 12, item 4): every runbook stays within 500 events over its window on the
 * time-skipping server, with real activities against targets that do not exist, so every check
 * fails or finds nothing and every loop runs for the whole window: 2.5 hours open (past the P1
 * escalations at 1 and 2 hours and the P0 MTTR breach), then resolved by a person, then 2 more
 * hours in which nothing may be added. The verification loops sample inside one activity
 * (activities/watch.ts) and the waits end when a person closes the incident.
 */
import type { WorkflowHandle } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Worker } from '@temporalio/worker';
import { createActivities } from '../../activities';
import { startIncident } from '../../client/incidents';
import type { WorkerClients } from '../../worker/clients';
import { abandonSignal } from '../../definitions/messages';
import type { IncidentState, RunbookId } from '../../definitions/types';
import { uniqueId } from '../../rig/env';
import { testClients } from '../../rig/deps';
import { startReceiver, type Receiver } from '../../rig/receivers';
import { createTestWorker, timeSkippingEnv } from '../../rig/temporal';

const LIMIT = 500;
const HOUR = 60 * 60_000;
const RUNBOOKS: RunbookId[] = ['P0-1', 'P0-2', 'P0-3', 'P0-4', 'P1-1', 'P1-2', 'P1-3'];
const EXTRA: Partial<Record<RunbookId, Record<string, unknown>>> = {
  'P0-3': { charges: ['ch_history_size'], reportedBy: 'history-size test' },
  'P0-4': { violation: 'calculation error' },
};

let env: TestWorkflowEnvironment;
let worker: Worker;
let running: Promise<void>;
let clients: WorkerClients;
let receivers: Receiver[] = [];
const taskQueue = uniqueId('history-size');

beforeAll(async () => {
  const [e, pd, slack] = await Promise.all([timeSkippingEnv(), startReceiver(), startReceiver()]);
  env = e;
  receivers = [pd, slack];
  const person = (role: string) => [
    { id: role.toLowerCase(), name: role, webhookUrl: `${slack.url}/approver/${role}` },
  ];
  clients = testClients(
    {
      health: { apiUrls: {} },
      notify: {
        pagerDutyEventsUrl: `${pd.url}/v2/enqueue`,
        pagerDutyRoutingKey: 'history-size',
        slackWebhookUrl: `${slack.url}/hooks/oncall`,
      },
    },
    { APPROVERS_JSON: JSON.stringify({ CEO: person('CEO'), CTO: person('CTO'), Legal: person('Legal') }) },
  );
  clients.deps.temporal = env.client;
  worker = await createTestWorker({
    connection: env.nativeConnection,
    taskQueue,
    activities: createActivities(clients.deps),
    shutdownGraceTime: '2s',
  });
  running = worker.run();
}, 120_000);

afterAll(async () => {
  worker?.shutdown();
  await running;
  await Promise.all([env?.teardown(), clients?.close(), ...receivers.map((r) => r.close())]);
});

const events = async (h: WorkflowHandle) => (await h.fetchHistory()).events?.length ?? 0;

test('every runbook stays within 500 events: 2.5 h open on unreachable targets, resolved, then quiet', async () => {
  const handles = new Map<RunbookId, WorkflowHandle>();
  for (const runbook of RUNBOOKS) {
    const target = uniqueId(`hist-${runbook.toLowerCase()}`);
    handles.set(
      runbook,
      await startIncident({
        client: env.client,
        taskQueue,
        runbook,
        target,
        workflowId: `incident-${runbook}-${target}`,
        trigger: { source: 'alert', alertName: `history-${runbook}`, labels: { service: target } },
        extraInput: EXTRA[runbook],
      }),
    );
  }
  for (let i = 0; i < 5; i++) await env.sleep(HOUR / 2);
  const open: Record<string, number> = {};
  for (const [runbook, h] of handles) open[runbook] = await events(h);

  // Closed by a person: a resolve would be refused (nothing is healthy), so an abandon the CTO
  // confirms with the one-time code their personal webhook received.
  const ctoCode = (workflowId: string) =>
    receivers[1].requests.filter((r) => r.path === '/approver/CTO' && r.body.workflowId === workflowId).at(-1)
      ?.body.code as string | undefined;
  for (const h of handles.values()) {
    await h.signal(abandonSignal, { by: 'history-size test', reason: 'window measured' });
  }
  for (const h of handles.values()) {
    while (!ctoCode(h.workflowId)) await new Promise((r) => setTimeout(r, 100));
    await h.signal(abandonSignal, { by: 'cto', reason: 'window measured', code: ctoCode(h.workflowId)! });
  }
  const finals = new Map<RunbookId, IncidentState>();
  for (const [runbook, h] of handles) finals.set(runbook, (await h.result()) as IncidentState);
  const atClose: Record<string, number> = {};
  for (const [runbook, h] of handles) atClose[runbook] = await events(h);
  await env.sleep(2 * HOUR);
  const after: Record<string, number> = {};
  for (const [runbook, h] of handles) after[runbook] = await events(h);

  console.log(
    `history events (open 2.5 h / closed / +2 h): ${RUNBOOKS.map((r) => `${r} ${open[r]}/${atClose[r]}/${after[r]}`).join(', ')}`,
  );
  for (const runbook of RUNBOOKS) {
    expect({ runbook, status: finals.get(runbook)!.status }).toEqual({ runbook, status: 'abandoned' });
    expect({ runbook, events: after[runbook] }).toEqual({ runbook, events: atClose[runbook] });
    expect(after[runbook]).toBeLessThanOrEqual(LIMIT);
  }
  // The escalation rules still fired on time inside the window (P1-1 at 1 h, P1-2 at 2 h).
  const p11 = finals.get('P1-1')!.escalations.map((e) => e.reason);
  const p12 = finals.get('P1-2')!.escalations.map((e) => e.reason);
  expect(p11).toEqual(expect.arrayContaining([expect.stringMatching(/not resolved in 60 minutes/)]));
  expect(p12).toEqual(expect.arrayContaining([expect.stringMatching(/not resolved in 120 minutes/)]));
}, 180_000);
