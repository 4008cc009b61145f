/**
 * The cross-runbook interlock, on the time-skipping server with real activities, a real sandbox
 * container, real Docker and real PostgreSQL (pg_dump):
 *   - with P0-4 holding the API stopped, a P0-1 incident on the same target makes no restart and
 *     says why (state and page); the API starts again only after the CEO's approval;
 *   - the guard itself: one action at a time, a concurrent restart is covered instead of repeated,
 *     a crash loop is refused, a hold refuses others and cannot be released without approval.
 */
import { Worker } from '@temporalio/worker';
import { WorkflowIdConflictPolicy } from '@temporalio/common';
import { createActivities } from '../../activities';
import { dataIntegrityViolation, targetLease } from '../../workflows';
import { abandonSignal, resolveSignal, stateQuery } from '../../definitions/messages';
import { approvalSignal } from '../../definitions/approval';
import {
  targetActionUpdate,
  targetDoneSignal,
  targetLeaseStateQuery,
  targetLeaseWorkflowId,
  targetWouldGrantQuery,
  TARGET_ACTION_RULES,
  type GuardedActionKind,
  type TargetActionRule,
  type TargetRequest,
} from '../../definitions/target-guard';
import type { WorkerClients } from '../../worker/clients';
import { startIncidentRig, type IncidentRig } from '../../rig/incident-rig';
import { startP01OnHeldTarget } from '../../rig/scenarios/kit';
import { uniqueId } from '../../rig/env';
import { startSandbox, waitUntil } from '../../rig/sandbox';
import { createTestWorker } from '../../rig/temporal';

const taskQueue = uniqueId('guard');
let rig: IncidentRig;
let clients: WorkerClients;

beforeAll(async () => {
  rig = await startIncidentRig({
    name: 'guard',
    taskQueue,
    approvals: true,
    pagerDutyRoutingKey: 'test-routing-key',
    chatHook: 'oncall',
  });
  ({ clients } = await rig.startWorker());
});

afterAll(async () => {
  await rig?.close();
});

const running$ = async () => (await rig.sandbox.docker.getContainer(rig.sandbox.name).inspect()).State;

test('with P0-4 holding the API, a P0-1 incident on the same target makes no restart; approval restarts it', async () => {
  const p04 = await rig.env.client.workflow.start(dataIntegrityViolation, {
    taskQueue: rig.taskQueue,
    workflowId: uniqueId('wf-p04-hold'),
    args: [
      {
        incidentId: uniqueId('P0-4'),
        target: rig.sandbox.name,
        trigger: { source: 'manual', startedBy: 'test', description: 'cross-tenant leakage in invoices' },
        policy: { verifyWindowMs: 20_000, verifyIntervalMs: 500 },
      },
    ],
  });
  await waitUntil(
    'P0-4 to wait for approval',
    async () => !!(await p04.query(stateQuery)).waitingFor,
    60_000,
  );
  const held = await p04.query(stateQuery);
  expect((await running$()).Running).toBe(false);
  const stoppedState = await running$();

  const p01 = await startP01OnHeldTarget(
    rig.env.client,
    rig.taskQueue,
    { workflowId: uniqueId('wf-p01-held'), incidentId: uniqueId('P0-1') },
    rig.sandbox.name,
  );
  const s = await p01.query(stateQuery);
  const restart = s.steps.find((st) => st.name === 'restart');
  expect(restart).toMatchObject({ status: 'skipped' });
  expect(restart!.result).toContain(`held by the P0-4 data integrity violation incident ${held.incidentId}`);
  expect(s.checks.targetGuard).toMatchObject({
    kind: 'restart',
    granted: false,
    heldBy: { incidentId: held.incidentId, runbook: 'P0-4' },
  });
  expect(s.escalations[0].reason).toContain(
    `held by the P0-4 data integrity violation incident ${held.incidentId}`,
  );
  const page = rig.world.team.requests.find(
    (r) => String(r.body.text).includes('P0-1') && String(r.body.text).includes('held by'),
  );
  expect(page).toBeDefined();
  // No restart happened: still stopped, same stop.
  const after = await running$();
  expect(after.Running).toBe(false);
  expect(after.StartedAt).toBe(stoppedState.StartedAt);
  // Anyone with the UI can send the guard a request naming any requester: a hold asked in the
  // running P0-1's name, or in the name of a P0-4 that does not exist, is refused.
  const guardHandle = rig.env.client.workflow.getHandle(targetLeaseWorkflowId(rig.sandbox.name));
  const p01State = await p01.query(stateQuery);
  const forge = (workflowId: string, incidentId: string, runbook: string) =>
    guardHandle.executeUpdate(targetActionUpdate, {
      args: [
        {
          requestId: uniqueId('forged'),
          target: rig.sandbox.name,
          kind: 'hold',
          requester: { workflowId, incidentId, runbook },
          reason: 'forged',
          decidedAt: new Date().toISOString(),
        },
      ],
    });
  const asP01 = await forge(p01.workflowId, p01State.incidentId, 'P0-1');
  expect(asP01).toMatchObject({
    granted: false,
    reason: expect.stringMatching(/only a P0-4 incident may hold/),
  });
  const ghost = await forge('no-such-incident', 'P0-4-ghost', 'P0-4');
  expect(ghost).toMatchObject({ granted: false, reason: expect.stringMatching(/not a running incident/) });
  expect((await guardHandle.query(targetLeaseStateQuery)).holds).toHaveLength(1);
  // A resolve is refused (health is not 200: the API is held stopped); the CTO confirms an abandon.
  await p01.signal(resolveSignal, { by: 'test', reason: 'held by P0-4; nothing to do here' });
  await waitUntil(
    'the resolve to be refused',
    async () => (await p01.query(stateQuery)).closeRequests?.some((c) => c.outcome === 'refused') ?? false,
  );
  const ctoCodes = rig.world.personal.requests.filter((r) => r.path === '/cto').length;
  await p01.signal(abandonSignal, { by: 'test', reason: 'held by P0-4; nothing to do here' });
  const ctoCode = await rig.world.waitForCode('cto', ctoCodes);
  await p01.signal(abandonSignal, { by: 'cto', reason: 'confirmed', code: ctoCode });
  expect((await p01.result()).status).toBe('abandoned');
  expect((await running$()).Running).toBe(false);

  // Only the CEO's code resumes it.
  const code = await rig.world.waitForCode('ceo');
  await p04.signal(approvalSignal, {
    approver: 'ceo',
    decision: 'approve',
    reason: 'evidence preserved',
    code,
  });
  const final = await p04.result();
  expect(final.status).toBe('resolved');
  expect((await running$()).Running).toBe(true);
  const guard = await rig.env.client.workflow
    .getHandle(targetLeaseWorkflowId(rig.sandbox.name))
    .query(targetLeaseStateQuery);
  expect(guard.holds).toHaveLength(0);
  expect(guard.log.some((l) => l.includes('REFUSED restart'))).toBe(true);
  expect(guard.log.some((l) => l.includes('GRANTED release-hold'))).toBe(true);
});

describe('the target guard', () => {
  const target = uniqueId('guard-target');
  const request = (
    workflowId: string,
    kind: TargetRequest['kind'],
    decidedAt = new Date().toISOString(),
  ) => ({
    requestId: uniqueId('req'),
    target,
    kind,
    requester: {
      workflowId,
      incidentId: `${workflowId}-incident`,
      runbook: workflowId.startsWith('p1') ? 'P1-1' : 'P0-1',
    },
    reason: 'test',
    decidedAt,
  });
  const envNow = async () => new Date(await rig.env.currentTimeMs()).toISOString();
  let guard: Awaited<ReturnType<typeof rig.env.client.workflow.start<typeof targetLease>>>;
  // The table is tested with made-up requesters: a worker of its own that trusts them (the real
  // worker checks every requester is a running incident of the target: see the test above).
  const tableQueue = `${taskQueue}-table`;
  let tableWorker: Worker;
  let tableRunning: Promise<void>;

  beforeAll(async () => {
    tableWorker = await createTestWorker({
      connection: rig.env.nativeConnection,
      taskQueue: tableQueue,
      activities: createActivities({ ...clients.deps, targetGuardTrustsRequesters: true }),
    });
    tableRunning = tableWorker.run();
    guard = await rig.env.client.workflow.start(targetLease, {
      taskQueue: tableQueue,
      workflowId: targetLeaseWorkflowId(target),
      args: [{ target, policy: { maxRestarts: 3, restartWindowMs: 15 * 60_000, coverWindowMs: 60_000 } }],
      workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING,
    });
  });

  test('two runbooks never act at once; a restart asked for meanwhile is covered, not repeated', async () => {
    const now = await rig.env.currentTimeMs();
    const a = await guard.executeUpdate(targetActionUpdate, {
      args: [request('p0-a', 'restart', new Date(now).toISOString())],
    });
    expect(a.granted).toBe(true);
    let bAnswered = false;
    const b = guard
      .executeUpdate(targetActionUpdate, { args: [request('p1-b', 'restart', new Date(now).toISOString())] })
      .then((r) => {
        bAnswered = true;
        return r;
      });
    await new Promise((r) => setTimeout(r, 1500));
    expect(bAnswered).toBe(false); // waits while a's restart is in flight
    expect((await guard.query(targetLeaseStateQuery)).queued).toHaveLength(1);
    await guard.signal(targetDoneSignal, { requestId: a.requestId, ok: true });
    const bReply = await b;
    expect(bReply.granted).toBe(false);
    expect(bReply.coveredBy?.requestId).toBe(a.requestId);
  });

  test('restarts are rate-limited: a crash loop is refused and escalates', async () => {
    for (let i = 0; i < 2; i++) {
      await rig.env.sleep('2 minutes');
      const r = await guard.executeUpdate(targetActionUpdate, {
        args: [request(`p0-loop-${i}`, 'restart', await envNow())],
      });
      expect(r.granted).toBe(true);
      await guard.signal(targetDoneSignal, { requestId: r.requestId, ok: true });
    }
    await rig.env.sleep('2 minutes');
    const refused = await guard.executeUpdate(targetActionUpdate, {
      args: [request('p0-loop-x', 'restart', await envNow())],
    });
    expect(refused.granted).toBe(false);
    expect(refused.reason).toMatch(/crash loop: .* restarted 3 times in the last 15 minutes/);
    await rig.env.sleep('15 minutes');
    const later = await guard.executeUpdate(targetActionUpdate, {
      args: [request('p0-loop-y', 'restart', await envNow())],
    });
    expect(later.granted).toBe(true);
    await guard.signal(targetDoneSignal, { requestId: later.requestId, ok: true });
  });

  test("a restart that must follow its requester's change is covered only by a restart granted after it", async () => {
    // p0-loop-y's restart was just granted (the test before): a plain restart decided now is covered by it…
    const decidedAt = await envNow();
    const plain = await guard.executeUpdate(targetActionUpdate, {
      args: [request('p1-plain', 'restart', decidedAt)],
    });
    expect(plain.granted).toBe(false);
    expect(plain.coveredBy?.requester.workflowId).toBe('p0-loop-y');
    // …but P0-3's, which makes the app read the billing switch it has just changed, is not: that
    // restart began before the change. Granted, and the next such request after it is covered.
    const reload = await guard.executeUpdate(targetActionUpdate, {
      args: [{ ...request('p0-3-switch', 'restart', decidedAt), afterChange: true }],
    });
    expect(reload).toMatchObject({ granted: true });
    expect(reload.coveredBy).toBeUndefined();
    await guard.signal(targetDoneSignal, { requestId: reload.requestId, ok: true });
    const later = await guard.executeUpdate(targetActionUpdate, {
      args: [{ ...request('p0-3-other', 'restart', decidedAt), afterChange: true }],
    });
    expect(later.coveredBy?.requester.workflowId).toBe('p0-3-switch');
  });

  test('a hold refuses every other runbook, and a forged release without approval is refused', async () => {
    const hold = await guard.executeUpdate(targetActionUpdate, { args: [request('p0-4-holder', 'hold')] });
    expect(hold.granted).toBe(true);
    await rig.env.sleep('2 minutes');
    // Decided from the one table: what a hold blocks is refused, the rest granted (and finished).
    for (const [kind, rule] of Object.entries(TARGET_ACTION_RULES) as [
      GuardedActionKind,
      TargetActionRule,
    ][]) {
      const r = await guard.executeUpdate(targetActionUpdate, { args: [request('p1-other', kind)] });
      expect({ kind, granted: r.granted }).toEqual({ kind, granted: !rule.heldBlocks });
      if (rule.heldBlocks) expect(r.heldBy?.holder.workflowId).toBe('p0-4-holder');
      else await guard.signal(targetDoneSignal, { requestId: r.requestId, ok: true });
    }
    expect(Object.values(TARGET_ACTION_RULES).filter((r) => r.heldBlocks).length).toBeGreaterThanOrEqual(6);
    // Anyone can claim to be the holder; the guard asks the holder's own state for an approval.
    const forged = await guard.executeUpdate(targetActionUpdate, {
      args: [request('p0-4-holder', 'release-hold')],
    });
    expect(forged.granted).toBe(false);
    expect(forged.reason).toContain('no accepted approval');
    expect((await guard.query(targetLeaseStateQuery)).holds).toHaveLength(1);
  });

  afterAll(async () => {
    await guard.terminate('table tests done').catch(() => undefined);
    tableWorker?.shutdown();
    await tableRunning;
  });

  test('a malformed request is refused by the validator before it enters history', async () => {
    await expect(
      guard.executeUpdate(targetActionUpdate, {
        args: [{ ...request('x', 'restart'), kind: 'explode' as never }],
      }),
    ).rejects.toThrow();
  });
});

// Last in this file: it runs a worker of its own that stops afterwards, after which the
// time-skipping server no longer skips time for the other tests' waits (as in billing-error.test.ts).
test('P0-4 does not stop the API before the guard grants its hold, and stops it once it does', async () => {
  // Paged when the guard has not answered in this long (the seed's 60 s would be waited in real time here).
  const holdEscalateAfterMs = 5_000;
  // The API's guard runs on a queue no worker polls yet: it cannot answer.
  const late = await startSandbox('abk-guard-late');
  const guardQueue = uniqueId('guard-down');
  await rig.env.client.workflow.start(targetLease, {
    taskQueue: guardQueue,
    workflowId: targetLeaseWorkflowId(late.name),
    args: [{ target: late.name }],
  });
  const p04 = await rig.env.client.workflow.start(dataIntegrityViolation, {
    taskQueue: rig.taskQueue,
    workflowId: uniqueId('wf-p04-late-hold'),
    args: [
      {
        incidentId: uniqueId('P0-4'),
        target: late.name,
        trigger: { source: 'manual', startedBy: 'test', description: 'calculation error' },
        policy: { holdEscalateAfterMs },
      },
    ],
  });
  let guardWorker: Worker | undefined;
  let guardRunning: Promise<void> | undefined;
  try {
    await waitUntil(
      'P0-4 to ask for its hold',
      async () =>
        ((await p04.describe()).raw.pendingActivities ?? []).some(
          (a) => a.activityType?.name === 'requestTargetAction' && (a.attempt ?? 0) >= 1,
        ),
      60_000,
    );
    // However long the guard takes, the API runs on, P0-4 goes no further, and a person is paged.
    await waitUntil(
      'P0-4 to escalate the missing hold',
      async () => (await p04.query(stateQuery)).escalations.some((e) => e.reason.includes('is NOT held yet')),
      holdEscalateAfterMs + 120_000,
    );
    const waiting = await p04.query(stateQuery);
    expect(waiting.steps.some((st) => st.name === 'stop')).toBe(false);
    expect((await late.docker.getContainer(late.name).inspect()).State.Running).toBe(true);

    guardWorker = await createTestWorker({
      connection: rig.env.nativeConnection,
      taskQueue: guardQueue,
      activities: createActivities(clients.deps),
    });
    guardRunning = guardWorker.run();
    await waitUntil(
      'the hold to be granted and the API stopped',
      async () => {
        const s = await p04.query(stateQuery);
        return (
          (s.checks.targetHold as { held?: boolean } | undefined)?.held === true &&
          s.steps.some((st) => st.name === 'stop' && st.status === 'done')
        );
      },
      120_000,
    );
    expect((await late.docker.getContainer(late.name).inspect()).State.Running).toBe(false);
  } finally {
    // Nothing of this test may stay scheduled: the time-skipping clock waits for it.
    await p04.terminate('test done').catch(() => undefined);
    await rig.env.client.workflow
      .getHandle(targetLeaseWorkflowId(late.name))
      .terminate('test done')
      .catch(() => undefined);
    guardWorker?.shutdown();
    await guardRunning;
    await late.remove();
  }
}, 300_000);

test('wouldGrant (dry runs) answers from the same table without taking a lease, a hold, a turn or budget', async () => {
  const target = uniqueId('would-target');
  const holder = { workflowId: 'wf-p04-holder', incidentId: 'P0-4-holder', runbook: 'P0-4' };
  const asker = { workflowId: 'wf-p01-dry', incidentId: 'DRYRUN-P0-1', runbook: 'P0-1' };
  const since = new Date().toISOString();
  const handle = await rig.env.client.workflow.start(targetLease, {
    taskQueue,
    workflowId: targetLeaseWorkflowId(target),
    args: [
      {
        target,
        carried: {
          holds: [{ requestId: 'hold-1', holder, reason: 'tenant data leak', since }],
          recent: [],
          log: [],
        },
      },
    ],
  });
  const ask = (kind: TargetRequest['kind']): TargetRequest => ({
    requestId: uniqueId('would'),
    target,
    kind,
    requester: asker,
    reason: 'dry run',
    decidedAt: new Date().toISOString(),
  });
  const before = await handle.query(targetLeaseStateQuery);

  const restart = await handle.query(targetWouldGrantQuery, ask('restart'));
  expect(restart.granted).toBe(false);
  expect(restart.reason).toMatch(/held by the P0-4/);
  expect(restart.heldBy?.holder.workflowId).toBe(holder.workflowId);
  const scaleDown = await handle.query(targetWouldGrantQuery, ask('scale-down'));
  expect(scaleDown.granted).toBe(true);
  expect(scaleDown.reason).toMatch(/would be granted/);
  // Asked many times: still nothing taken (no lease would ever run out, no budget used).
  for (let i = 0; i < 5; i++) await handle.query(targetWouldGrantQuery, ask('scale-down'));

  const after = await handle.query(targetLeaseStateQuery);
  expect(after.recent).toEqual(before.recent);
  expect(after.holds).toEqual(before.holds);
  expect(after.queued).toEqual([]);
  expect(after.inFlight).toBeUndefined();
  expect(after.handled).toBe(before.handled);
  expect(after.log).toEqual(before.log);
  // A malformed request is refused with what is wrong, and changes nothing either.
  await expect(
    handle.query(targetWouldGrantQuery, { ...ask('restart'), kind: 'explode' as TargetRequest['kind'] }),
  ).rejects.toThrow(/invalid target request: missing or invalid kind/);
  await handle.terminate('test finished');
});
