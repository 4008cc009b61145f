/**
 * The gates against someone who can open the Temporal UI: they read every history and send any
 * signal with any name in it. Each attack is made with the Temporal CLI as a second client
 * (`temporal workflow signal/show/start/update`), on the dev server, with the codec off, against a
 * real P0-4 incident holding a real sandbox API stopped (issue 17).
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { promisify } from 'node:util';
import type { WorkflowHandle } from '@temporalio/client';
import { startIncident } from '../../client/incidents';
import { loadTemporalConfig } from '../../config/temporal';
import type { ApprovalGateRecord } from '../../definitions/approval';
import { followUpWorkflowId, stateQuery } from '../../definitions/messages';
import {
  targetGrantQuery,
  targetLeaseStateQuery,
  targetLeaseWorkflowId,
} from '../../definitions/target-guard';
import type { IncidentState } from '../../definitions/types';
import type { WorkerClients } from '../../worker/clients';
import { startIncidentRig, type IncidentRig } from '../../rig/incident-rig';
import { codeCount } from '../../rig/approvals';
import { need, uniqueId } from '../../rig/env';
import { waitUntil } from '../../rig/sandbox';

const run = promisify(execFile);
let rig: IncidentRig;
let clients: WorkerClients;
let handle: WorkflowHandle;
const leftovers: string[] = [];

/** The Temporal CLI, as the attacker runs it. */
async function temporal(...args: string[]): Promise<{ ok: boolean; out: string; err: string }> {
  const common = ['--address', need('TEMPORAL_ADDRESS'), '--namespace', loadTemporalConfig().namespace];
  try {
    const r = await run(need('TEMPORAL_CLI_PATH'), [...args, ...common], {
      timeout: 30_000,
      maxBuffer: 64 << 20,
    });
    return { ok: true, out: r.stdout, err: r.stderr };
  } catch (e) {
    const x = e as { stdout?: string; stderr?: string };
    return { ok: false, out: String(x.stdout ?? ''), err: String(x.stderr ?? e) };
  }
}
const signal = (workflowId: string, name: string, input: unknown) =>
  temporal(
    'workflow',
    'signal',
    '--workflow-id',
    workflowId,
    '--name',
    name,
    '--input',
    JSON.stringify(input),
  );

const state = () => handle.query<IncidentState>(stateQuery);
const gate = async (): Promise<ApprovalGateRecord> => (await state()).approvals![0];
const apiRunning = async () =>
  (await rig.sandbox.docker.getContainer(rig.sandbox.name).inspect()).State.Running;

/**
 * The incident's history as the attacker reads it: `temporal workflow show --output json`, with
 * every payload's base64 `data` decoded (the codec is off: that is all it takes).
 */
async function historyAsShown(): Promise<string> {
  const r = await temporal('workflow', 'show', '--workflow-id', handle.workflowId, '--output', 'json');
  expect(r.ok).toBe(true);
  const decode = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(decode);
    if (!v || typeof v !== 'object') return v;
    const o = v as Record<string, unknown>;
    if (o.metadata && typeof o.data === 'string')
      return { ...o, data: Buffer.from(o.data, 'base64').toString('utf8') };
    return Object.fromEntries(Object.entries(o).map(([k, x]) => [k, decode(x)]));
  };
  return JSON.stringify(decode(JSON.parse(r.out)), null, 1);
}

beforeAll(async () => {
  rig = await startIncidentRig({ name: 'attacks', server: 'dev', approvals: true, chatHook: 'incidents' });
  ({ clients } = await rig.startWorker());
  const workflowId = uniqueId('attacks-P0-4');
  handle = await startIncident({
    client: rig.client,
    taskQueue: rig.taskQueue,
    runbook: 'P0-4',
    target: rig.sandbox.name,
    trigger: {
      source: 'manual',
      startedBy: 'gate-attacks test',
      description: 'tenant A saw tenant B invoices',
    },
    workflowId,
    // Tighter than the defaults (allowed): 5 wrong codes before short codes become long ones.
    policy: { maxWrongCodes: 5, verifyWindowMs: 30_000, verifyIntervalMs: 500 },
    extraInput: { violation: 'cross-tenant leakage (test)' },
  });
  leftovers.push(targetLeaseWorkflowId(rig.sandbox.name));
  await waitUntil('P0-4 to wait for approval', async () => !!(await state()).waitingFor, 90_000);
  expect(await apiRunning()).toBe(false);
}, 180_000);

afterAll(async () => {
  const final = await state().catch(() => undefined);
  if (final) leftovers.push(followUpWorkflowId(final.incidentId));
  await Promise.allSettled(
    [handle?.workflowId, ...leftovers]
      .filter(Boolean)
      .map((id) => rig.client.workflow.getHandle(id).terminate('gate-attacks test finished')),
  );
  await rig?.close();
});

test('attack: "resolve" from the CLI while the API is held stopped is refused and recorded; the P0 stays open', async () => {
  const r = await signal(handle.workflowId, 'resolve', { by: 'mallory', reason: 'looks fine to me' });
  expect(r.ok).toBe(true);
  await waitUntil(
    'the claim to be checked',
    async () =>
      (await state()).closeRequests?.some((c) => c.by === 'mallory' && c.outcome === 'refused') ?? false,
  );
  const s = await state();
  expect(s.closeRequests!.find((c) => c.by === 'mallory')!.detail).toMatch(/stays stopped until CEO approve/);
  expect(s.status).toBe('awaiting-approval');
  expect((await handle.describe()).status.name).toBe('RUNNING');
  expect(await apiRunning()).toBe(false);
});

test('attack: "abandon" from the CLI without the CTO code closes nothing (the CTO is asked)', async () => {
  const before = codeCount(rig.world, 'cto');
  const r = await signal(handle.workflowId, 'abandon', { by: 'mallory', reason: 'stop paging me' });
  expect(r.ok).toBe(true);
  await rig.world.waitForCode('cto', before);
  // A made-up code in the CTO's name: refused, still open.
  await signal(handle.workflowId, 'abandon', { by: 'cto', reason: 'trust me', code: 'ABCDE-FGHJK' });
  await waitUntil('the forged confirmation to be refused', async () =>
    ((await state()).approvals ?? []).some(
      (g) => g.gate === 'abandon' && g.attempts.some((a) => a.refusedBecause === 'code does not match'),
    ),
  );
  expect((await handle.describe()).status.name).toBe('RUNNING');
  expect((await state()).closedBy).toBeUndefined();
});

test('attack: the removed submitApproval update is refused by the server, nothing is recorded', async () => {
  const attempts = (await gate()).attempts.length;
  const r = await temporal(
    'workflow',
    'update',
    'execute',
    '--workflow-id',
    handle.workflowId,
    '--name',
    'submitApproval',
    '--input',
    JSON.stringify({ approver: 'ceo', decision: 'approve', reason: 'x', code: 'ABCDE-FGHJK' }),
  );
  expect(r.ok).toBe(false);
  expect(`${r.out}${r.err}`).toMatch(/submitApproval|unknown|not found|handler/i);
  expect((await gate()).attempts.length).toBe(attempts);
  expect(await apiRunning()).toBe(false);
});

test('attack: a live code read from a refused attempt in history is dead when resent as its owner', async () => {
  // The CEO, in a hurry, sends their code without a reason: refused, and the code is spent.
  const sent = codeCount(rig.world, 'ceo');
  const code = rig.world.latestCode('ceo')!;
  await signal(handle.workflowId, 'approval', { approver: 'ceo', decision: 'approve', code });
  await rig.world.waitForCode('ceo', sent); // a fresh one, at once, over the CEO's own channel
  // Mallory reads it from the history as shown by the CLI and resends it with a reason.
  const shown = await historyAsShown();
  expect(shown).toContain(code);
  await signal(handle.workflowId, 'approval', { approver: 'ceo', decision: 'approve', reason: 'go', code });
  await waitUntil('the replay to be refused', async () =>
    (await gate()).attempts.some((a) => a.refusedBecause?.startsWith('code already used')),
  );
  expect(await apiRunning()).toBe(false);
});

test('attack: nothing in the history tests a guess offline (no hash, no salt, no plain SHA-256 of any code)', async () => {
  const shown = await historyAsShown();
  expect(shown).not.toMatch(/"(salt|hash)"/);
  const codes = rig.world.personal.requests.map((r) => String(r.body.code)).filter(Boolean);
  expect(codes.length).toBeGreaterThan(1);
  for (const c of codes) {
    for (const form of [c, c.replace(/-/g, '')]) {
      expect(shown).not.toContain(createHash('sha256').update(form).digest('hex'));
    }
  }
  // The one place a code appears is a person's own submission (spent): never in a result or the state.
  const events = (JSON.parse(shown) as { events: Record<string, unknown>[] }).events;
  for (const e of events) {
    const text = JSON.stringify(e);
    if (/"signalName":\s*"(approval|abandon)"/.test(text)) continue;
    for (const c of codes) expect(text).not.toContain(c);
  }
  expect(JSON.stringify(await state())).not.toMatch(
    new RegExp(codes.map((c) => c.replace(/-/g, '-?')).join('|')),
  );
});

test('attack: a flood of wrong codes in the CEO name locks nobody out; the CEO still approves', async () => {
  const sent = codeCount(rig.world, 'ceo');
  for (let i = 0; i < 8; i++) {
    await signal(handle.workflowId, 'approval', {
      approver: 'ceo',
      decision: 'approve',
      reason: 'guess',
      code: `GUESS-${'ABCDEFGH'[i]}2345`,
    });
  }
  // Past the cap (5) the short code is revoked and a long one is sent at once.
  const long = await rig.world.waitForCode('ceo', sent);
  expect(long.replace(/-/g, '')).toHaveLength(30);
  expect(await apiRunning()).toBe(false);
  await signal(handle.workflowId, 'approval', {
    approver: 'ceo',
    decision: 'approve',
    reason: 'evidence preserved, leak contained',
    code: long,
  });
  const final = (await handle.result()) as IncidentState;
  expect(final.status).toBe('resolved');
  expect(await apiRunning()).toBe(true);
}, 120_000);

test('attack: the target guard believes neither a request nor a "done" report sent in a real incident\'s name', async () => {
  // A container whose PID 1 (node, no handler) ignores SIGTERM: `docker restart` waits the whole stop
  // timeout, so P0-1's restart of it stays in flight long enough to attack.
  const image = (await rig.sandbox.docker.getContainer(rig.sandbox.name).inspect()).Image;
  const slow = uniqueId('abk-slowstop');
  const container = await rig.sandbox.docker.createContainer({
    Image: image,
    name: slow,
    Entrypoint: ['node', '-e', 'setInterval(() => undefined, 1e9)'],
  });
  await container.start();
  clients.deps.health.apiUrls[slow] = 'http://127.0.0.1:9';
  const guardId = targetLeaseWorkflowId(slow);
  leftovers.push(guardId);
  const guardState = () => rig.client.workflow.getHandle(guardId).query(targetLeaseStateQuery);
  try {
    const p01 = await startIncident({
      client: rig.client,
      taskQueue: rig.taskQueue,
      runbook: 'P0-1',
      target: slow,
      trigger: { source: 'manual', startedBy: 'gate-attacks test', description: 'API down' },
      workflowId: uniqueId('attacks-P0-1'),
      policy: { stopTimeoutSec: 30 },
    });
    leftovers.push(p01.workflowId);
    const p01State = await p01.query<IncidentState>(stateQuery);
    await waitUntil(
      'the restart to be in flight',
      async () => !!(await guardState().catch(() => undefined))?.inFlight,
      60_000,
    );
    const inFlight = (await guardState()).inFlight!;

    // 1. "It finished": the restart is still running, so the report is checked with P0-1 and ignored.
    expect((await signal(guardId, 'actionDone', { requestId: inFlight.requestId, ok: true })).ok).toBe(true);
    await waitUntil('the forged report to be judged', async () =>
      (await guardState()).log.some((l) => l.includes('finished was ignored')),
    );
    const after = await guardState();
    expect(after.inFlight?.requestId).toBe(inFlight.requestId);
    const grant = await rig.client.workflow.getHandle(guardId).query(targetGrantQuery, inFlight.requestId);
    expect(grant?.live).toBe(true);

    // 2. A restart asked in P0-1's name (a real, running incident on this target) that P0-1 never asked.
    const forged = await temporal(
      'workflow',
      'update',
      'execute',
      '--workflow-id',
      guardId,
      '--name',
      'requestAction',
      '--input',
      JSON.stringify({
        requestId: 'forged-restart-1',
        target: slow,
        kind: 'restart',
        requester: { workflowId: p01.workflowId, incidentId: p01State.incidentId, runbook: 'P0-1' },
        reason: 'attacker',
        decidedAt: new Date().toISOString(),
      }),
    );
    expect(`${forged.out}${forged.err}`).toMatch(/did not ask for this restart/);
    expect((await guardState()).recent.some((a) => a.requestId === 'forged-restart-1')).toBe(false);

    // The real report, once the restart ends, is believed.
    await waitUntil(
      'the real restart to finish',
      async () =>
        (await guardState()).recent.some((a) => a.requestId === inFlight.requestId && !!a.finishedAt),
      90_000,
    );
  } finally {
    await container.remove({ force: true }).catch(() => undefined);
  }
}, 240_000);

test('attack: a trigger that loosens the gate is refused: the CLI starts nothing, a hand-started workflow fails before its first step', async () => {
  const workflowId = uniqueId('attacks-loosen');
  const input = {
    incidentId: uniqueId('P0-4-loosen'),
    target: rig.sandbox.name,
    trigger: { source: 'manual', startedBy: 'mallory' },
    violation: 'test',
    policy: { approvalRoles: ['Legal'], codeTtlMs: 7 * 24 * 3600_000 },
  };
  const r = await temporal(
    'workflow',
    'start',
    '--task-queue',
    rig.taskQueue,
    '--type',
    'dataIntegrityViolation',
    '--workflow-id',
    workflowId,
    '--input',
    JSON.stringify(input),
  );
  expect(r.ok).toBe(true);
  const h = rig.client.workflow.getHandle(workflowId);
  await expect(h.result()).rejects.toThrow();
  const events = (await h.fetchHistory()).events ?? [];
  const failed = events.find(
    (e) => e.workflowExecutionFailedEventAttributes,
  )?.workflowExecutionFailedEventAttributes;
  expect(failed?.failure?.message).toMatch(/approvalRoles must keep CEO.*codeTtlMs may only be lowered/s);
  expect(failed?.failure?.applicationFailureInfo?.type).toBe('INVALID_POLICY');
  expect(events.some((e) => e.activityTaskScheduledEventAttributes)).toBe(false);
  expect(await apiRunning()).toBe(true); // approved above; nothing stopped it again
});
