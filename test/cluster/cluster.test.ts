/**
 * The runbooks on a production-shaped Temporal cluster (issue 10): two server nodes on PostgreSQL
 * behind HAProxy, started by scripts/cluster.sh. The same workflow and activity code as on the dev
 * server; only TEMPORAL_ADDRESS (the balancer) and TEMPORAL_UI_URL differ. The systems the runbooks
 * repair come from the normal test stack (scripts/stack.sh).
 *
 * Node loss is a real `kill -9` of a server node found by the pid the script recorded; a full
 * restart stops both nodes mid-incident. Run by scripts/test-cluster.sh (the main Jest run leaves it out).
 */
import { NativeConnection, type Worker } from '@temporalio/worker';
import type { Client, WorkflowHandle } from '@temporalio/client';
import type { Browser, Page } from 'playwright-core';
import { createActivities } from '../../activities';
import { connectClient } from '../../client/connection';
import { incidentState, startIncident } from '../../client/incidents';
import { loadTemporalConfig } from '../../config/temporal';
import { stateQuery } from '../../definitions/messages';
import type { IncidentState } from '../../definitions/types';
import type { WorkerClients } from '../../worker/clients';
import { codeCount, startApprovalWorld, type ApprovalWorld } from '../../rig/approvals';
import { launchChromium, screenshot } from '../../rig/browser';
import { testClients } from '../../rig/deps';
import { need, uniqueId } from '../../rig/env';
import { startReceiver, type Receiver } from '../../rig/receivers';
import { startSandbox, type Sandbox } from '../../rig/sandbox';
import { stackApi } from '../../rig/stack-api';
import { createTestWorker } from '../../rig/temporal';
import { openWorkflow, readUserMetadata, sendSignalThroughUi } from '../../rig/temporal-ui';
import { startWorkerProcess, type WorkerProcess } from '../../rig/worker-process';
import {
  clusterSh,
  killNode,
  nodePids,
  ownerOf,
  recordResults,
  shardOwners,
  signalOnce,
  type Node,
} from './cluster';

const taskQueue = uniqueId('cluster');
let world: ApprovalWorld;
let pd: Receiver;
let sandbox: Sandbox;
let uiSandbox: Sandbox;
let restartSandbox: Sandbox;
/** Each test its own sandbox API, so that one failed incident (holding its target) cannot block the next. */
const apiUrls: Record<string, string> = {};
let clients: WorkerClients;
let connection: NativeConnection;
let worker: Worker;
let running: Promise<void>;
let client: Client;
const handles: WorkflowHandle[] = [];

/** Polls `fn` until it returns true; errors (a node is down, the shard is moving) count as "not yet". */
async function poll(what: string, fn: () => Promise<boolean>, timeoutMs = 60_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    try {
      if (await fn()) return Date.now();
    } catch (err) {
      last = (err as Error).message;
    }
    if (Date.now() > deadline)
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${last})` : ''}`,
      );
    await new Promise((r) => setTimeout(r, 200));
  }
}

const state = (h: WorkflowHandle) => h.query(stateQuery);
const pagesFor = (incidentId: string) =>
  pd.requests.filter((r) =>
    String((r.body as { dedup_key?: string }).dedup_key ?? '').startsWith(incidentId),
  );

/** Both nodes serve and each owns history shards again (the ring has formed). */
async function bothNodesOwnShards(timeoutMs = 90_000): Promise<void> {
  await poll(
    'both nodes to own history shards',
    async () => {
      const owners = await shardOwners();
      if (owners.a > 0 && owners.b > 0) return true;
      throw new Error(`shard owners now: node a ${owners.a}, node b ${owners.b}`);
    },
    timeoutMs,
  );
}

beforeAll(async () => {
  expect(need('TEMPORAL_ADDRESS')).toBe(need('CLUSTER_BALANCER_ADDRESS'));
  [world, pd, sandbox, uiSandbox, restartSandbox] = await Promise.all([
    startApprovalWorld(),
    startReceiver(),
    startSandbox('abk-cl-loss'),
    startSandbox('abk-cl-ui'),
    startSandbox('abk-cl-restart'),
  ]);
  for (const sb of [sandbox, uiSandbox, restartSandbox]) apiUrls[sb.name] = sb.url;
  clients = testClients({
    health: { apiUrls },
    notify: {
      slackWebhookUrl: `${world.team.url}/hooks/incidents`,
      mailer: world.mailbox.transport(),
      mailFrom: 'runbooks@accubooks.test',
      pagerDutyEventsUrl: `${pd.url}/v2/enqueue`,
      pagerDutyRoutingKey: 'cluster-test',
    },
    approvers: world.directory,
  });
  // Configuration only: the address (and namespace) the environment gives, as every process reads it.
  const cfg = loadTemporalConfig();
  connection = await NativeConnection.connect({ address: cfg.address });
  worker = await createTestWorker({
    connection,
    namespace: cfg.namespace,
    taskQueue,
    activities: createActivities(clients.deps),
    shutdownGraceTime: '1s',
  });
  running = worker.run();
  client = await connectClient(cfg);
});

afterAll(async () => {
  await Promise.allSettled(handles.map((h) => h.terminate('test finished')));
  worker?.shutdown();
  await Promise.race([running, new Promise((r) => setTimeout(r, 30_000))]);
  await Promise.allSettled([
    client?.connection.close(),
    connection?.close(),
    clients?.close(),
    sandbox?.remove(),
    uiSandbox?.remove(),
    restartSandbox?.remove(),
    world?.close(),
    pd?.close(),
  ]);
});

test('the two nodes form one ring: both own history shards, and the balancer serves the namespace', async () => {
  const owners = await shardOwners();
  expect(owners.a + owners.b).toBeGreaterThanOrEqual(4);
  await bothNodesOwnShards();
  const pids = await nodePids();
  expect(pids.a).toBeGreaterThan(0);
  expect(pids.b).toBeGreaterThan(0);
  expect(pids.a).not.toBe(pids.b);
  const info = await client.workflowService.getSystemInfo({});
  expect(info.serverVersion).toBe('1.32.2');
});

describe('P0-1 end to end through the balancer', () => {
  let proc: WorkerProcess;
  let pdE2e: Receiver;
  const q = uniqueId('cluster-e2e');
  const api = stackApi();

  beforeAll(async () => {
    pdE2e = await startReceiver();
    // The real worker process, configured only by its environment (TEMPORAL_ADDRESS = the balancer).
    proc = await startWorkerProcess({
      env: {
        TEMPORAL_TASK_QUEUE: q,
        NOTIFY_PAGERDUTY_EVENTS_URL: `${pdE2e.url}/v2/enqueue`,
        PAGERDUTY_ROUTING_KEY: 'cluster-e2e',
      },
    });
  });

  afterAll(async () => {
    await proc?.stop();
    await pdE2e?.close();
    await api.healthyAgain();
  });

  test('a crashed API is restarted by P0-1 and health returns 200', async () => {
    const before = await api.crash();
    const t0 = Date.now();
    const handle = await startIncident({
      client,
      taskQueue: q,
      runbook: 'P0-1',
      target: api.container,
      trigger: { source: 'manual', startedBy: 'cluster e2e test', description: 'injected crash' },
      workflowId: uniqueId('cluster-e2e-P0-1'),
    });
    handles.push(handle);
    await api.expectRestartedByP01((await handle.result()) as IncidentState, before);
    expect((await incidentState(handle)).outcome).toBe('health 200 after restart 1');
    // It ran on the cluster: its shard is owned by one of the two nodes.
    expect(['a', 'b']).toContain((await ownerOf(handle.workflowId)).node);
    recordResults('p0-1-e2e', { incidentMs: Date.now() - t0 });
  });
});

test('node loss: kill -9 of the node owning a P0-4 incident while it waits on approval and its escalation timer runs', async () => {
  const mttrTargetMs = 40_000;
  const workflowId = uniqueId('cluster-p04-nodeloss');
  const handle = await startIncident({
    client,
    taskQueue,
    runbook: 'P0-4',
    target: sandbox.name,
    trigger: { source: 'manual', startedBy: 'game day', description: 'cross-tenant leakage (game day)' },
    extraInput: { violation: 'cross-tenant leakage (game day: node loss)' },
    workflowId,
    // Compressed as a game day runs it: the MTTR escalation in 40 s; CEO and CTO must both approve.
    policy: {
      mttrTargetMs,
      approvalRoles: ['CEO', 'CTO'],
      reminderEveryMs: 10 * 60_000,
      verifyWindowMs: 30_000,
      verifyIntervalMs: 500,
    },
  });
  handles.push(handle);
  await poll('the approval gate', async () => (await state(handle)).waitingFor !== undefined, 90_000);
  const [ceoCode, ctoCode] = await Promise.all([world.waitForCode('ceo'), world.waitForCode('cto')]);
  const s0 = await state(handle);
  const dueAt = Date.parse(s0.mttr.detectedAt) + mttrTargetMs;
  // The escalation timer is still running when the node dies.
  expect(s0.escalations).toEqual([]);
  expect(dueAt - Date.now()).toBeGreaterThan(10_000);

  const owner = await ownerOf(workflowId);
  const killed = await killNode(owner.node);
  const survivor: Node = owner.node === 'a' ? 'b' : 'a';
  expect((await nodePids())[owner.node]).toBeUndefined();

  // The CTO approves right away, through the balancer, with one request id however often retried.
  const cto = await signalOnce(client, workflowId, 'approval', {
    approver: 'cto',
    decision: 'approve',
    reason: 'game day: CTO approves during the node loss',
    code: ctoCode,
  });
  const recordedAt = await poll(
    'the CTO approval to be recorded',
    async () => (await state(handle)).approvals?.[0]?.attempts.some((a) => a.approver === 'cto') ?? false,
    90_000,
  );
  // The escalation fires on the surviving node's timer, once.
  await poll(
    'the MTTR escalation',
    async () => (await state(handle)).escalations.length > 0,
    dueAt - Date.now() + 60_000,
  );
  const takeover = await ownerOf(workflowId);
  expect(takeover.node).toBe(survivor);

  // The lost node comes back and the ring re-forms.
  const restartT = Date.now();
  await clusterSh('start-node', owner.node);
  const nodeBackMs = Date.now() - restartT;
  await bothNodesOwnShards();

  const ceo = await signalOnce(client, workflowId, 'approval', {
    approver: 'ceo',
    decision: 'approve',
    reason: 'game day: CEO approves after the node is back',
    code: ceoCode,
  });
  const final = (await handle.result()) as IncidentState;
  const doneAt = Date.now();

  expect(final.status).toBe('resolved');
  expect(await sandbox.health()).toBe(200);
  // The escalation: once, at the right time (not before the target; late only by the takeover).
  expect(final.escalations).toHaveLength(1);
  expect(final.escalations[0].tier).toBe('incident commander (MTTR breach)');
  const escalatedAt = Date.parse(final.escalations[0].at);
  expect(escalatedAt).toBeGreaterThanOrEqual(dueAt - 1000);
  expect(escalatedAt - dueAt).toBeLessThan(30_000);
  expect(pagesFor(final.incidentId)).toHaveLength(1);
  // Each approval recorded once; nothing that must happen once happened twice.
  const gate = final.approvals![0];
  expect(gate.status).toBe('approved');
  expect(gate.attempts.map((a) => [a.approver, a.accepted])).toEqual([
    ['cto', true],
    ['ceo', true],
  ]);
  expect(codeCount(world, 'ceo')).toBe(1);
  expect(codeCount(world, 'cto')).toBe(1);
  const once = ['stop', 'pg-dump', 'start'];
  for (const name of once) expect(final.steps.filter((s) => s.name === name)).toHaveLength(1);

  const detected = Date.parse(final.mttr.detectedAt);
  recordResults('node-loss-p0-4', {
    killedNode: owner.node,
    killedPid: killed.pid,
    shard: owner.shard,
    killToSignalAcceptedMs: cto.acceptedAt - killed.at,
    signalTries: cto.tries,
    killToApprovalRecordedMs: recordedAt - killed.at,
    escalationDueAfterKillMs: dueAt - killed.at,
    escalationLateByMs: escalatedAt - dueAt,
    nodeRestartToServingMs: nodeBackMs,
    ceoSignalTries: ceo.tries,
    ceoApprovalToResolvedMs: doneAt - ceo.acceptedAt,
    incidentTotalMs: doneAt - detected,
    approvalWaitMs: (final.mttr.waits ?? []).reduce((t, w) => t + (w.ms ?? 0), 0),
    // What the node loss cost the incident: the approval took effect this much later than sent.
    incidentDelayFromNodeLossMs: recordedAt - killed.at,
  });
});

describe('the Web UI server on the balancer', () => {
  let browser: Browser;
  let page: Page;
  beforeAll(async () => {
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  });
  afterAll(async () => {
    await browser?.close();
  });

  test('a P0-4 approval sent through "Send a Signal" in Chromium resumes the API', async () => {
    const uiUrl = need('TEMPORAL_UI_URL');
    const workflowId = uniqueId('cluster-ui-P0-4');
    const before = codeCount(world, 'ceo');
    const handle = await startIncident({
      client,
      taskQueue,
      runbook: 'P0-4',
      target: uiSandbox.name,
      trigger: { source: 'manual', startedBy: 'cluster ui test', description: 'calculation error' },
      extraInput: { violation: 'calculation error (cluster ui test)' },
      workflowId,
      policy: { verifyWindowMs: 30_000, verifyIntervalMs: 500 },
    });
    handles.push(handle);
    await poll('the approval gate', async () => (await state(handle)).waitingFor !== undefined, 90_000);
    const code = await world.waitForCode('ceo', before);

    await openWorkflow(page, uiUrl, workflowId);
    const metadata = await readUserMetadata(page);
    await screenshot(page, 'cluster-p0-4-awaiting-approval');
    expect(metadata).toContain(`P0-4 Data integrity violation: ${uiSandbox.name}`);
    expect(metadata).toContain('Send a Signal named approval');
    const example = JSON.parse(/(\{\s*"approver"[\s\S]*?\})/.exec(metadata)![1]) as Record<string, string>;

    await sendSignalThroughUi(page, 'approval', {
      ...example,
      approver: 'ceo',
      code,
      reason: 'approved in the cluster UI',
    });
    const final = (await handle.result()) as IncidentState;
    await openWorkflow(page, uiUrl, workflowId);
    await screenshot(page, 'cluster-p0-4-after-approval');
    expect(final.status).toBe('resolved');
    expect(final.approvals![0].attempts.map((a) => [a.approver, a.accepted, a.via])).toEqual([
      ['ceo', true, 'signal'],
    ]);
    expect(await uiSandbox.health()).toBe(200);
  });
});

test('full restart: both nodes stopped mid-incident; the timer still fires once, the incident resumes and nothing is repeated', async () => {
  const escalateAfterMs = 25_000;
  await restartSandbox.inject({ fault: 'fail-health', persist: true });
  const workflowId = uniqueId('cluster-restart-P0-1');
  const handle = await startIncident({
    client,
    taskQueue,
    runbook: 'P0-1',
    target: restartSandbox.name,
    trigger: { source: 'manual', startedBy: 'game day', description: 'full cluster restart' },
    workflowId,
    policy: {
      escalateAfterMs,
      maxRestarts: 1,
      verifyWindowMs: 3000,
      verifyIntervalMs: 500,
      recheckIntervalMs: 2000,
      maxRecheckIntervalMs: 4000,
      mttrTargetMs: 30 * 60_000,
    },
  });
  handles.push(handle);
  const startedAt = (await handle.describe()).startTime.getTime();
  const dueAt = startedAt + escalateAfterMs;
  await poll(
    'the restart and its failed verification',
    async () => (await state(handle)).steps.some((s) => s.name === 'verify' && s.status !== 'running'),
    60_000,
  );
  const containerStartedAt = await restartSandbox.startedAt();
  const s0 = await state(handle);
  expect(s0.checks.restarts).toBe(1);
  expect(s0.escalations).toEqual([]);
  expect(dueAt - Date.now()).toBeGreaterThan(3_000);

  // Both nodes down (SIGTERM, by recorded pid), and kept down past the escalation's due time.
  const stopT = Date.now();
  await clusterSh('stop-nodes');
  const stoppedAt = Date.now();
  const pids = await nodePids();
  expect(pids).toEqual({ a: undefined, b: undefined });
  await new Promise((r) => setTimeout(r, Math.max(0, dueAt + 2000 - Date.now())));
  const startT = Date.now();
  await clusterSh('start-nodes');
  const servingAt = Date.now();
  const resumedAt = await poll('the incident to answer again', async () => !!(await state(handle)), 120_000);

  await poll('the overdue escalation', async () => (await state(handle)).escalations.length > 0, 60_000);
  const s1 = await state(handle);
  const escalatedAt = Date.parse(s1.escalations[0].at);
  // The fault goes away: the runbook, re-checking where it was, sees 200 and resolves.
  await restartSandbox.clearFaults();
  const final = (await handle.result()) as IncidentState;
  const doneAt = Date.now();

  expect(final.status).toBe('resolved');
  expect(final.outcome).toBe('health returned to 200');
  expect(final.escalations).toHaveLength(1);
  expect(final.escalations[0].tier).toBe('engineering lead (CTO)');
  expect(escalatedAt).toBeGreaterThanOrEqual(dueAt - 1000);
  // Overdue while the cluster was down, it fires as soon as the nodes serve again.
  expect(escalatedAt - servingAt).toBeLessThan(60_000);
  expect(pagesFor(final.incidentId)).toHaveLength(1);
  // The restart happened once, before the outage, and was not repeated after it.
  expect(final.checks.restarts).toBe(1);
  expect(final.steps.filter((s) => s.name === 'restart')).toHaveLength(1);
  expect(await restartSandbox.startedAt()).toBe(containerStartedAt);
  await bothNodesOwnShards();

  recordResults('full-restart-p0-1', {
    stopNodesMs: stoppedAt - stopT,
    clusterDownMs: startT - stoppedAt,
    startNodesToServingMs: servingAt - startT,
    stopToIncidentAnsweringMs: resumedAt - stopT,
    escalationDueWhileDown: dueAt < startT,
    escalationLateByMs: escalatedAt - dueAt,
    escalationAfterServingMs: escalatedAt - servingAt,
    incidentTotalMs: doneAt - startedAt,
  });
});
