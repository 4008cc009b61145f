/**
 * A P0-4 hold whose incident was abandoned (with the CTO's code) before its approval: the API stays
 * stopped and held; a forged approval at the guard changes nothing; a `releaseHold` request and the
 * CEO's one-time code release it (never a terminate). Time-skipping server, real sandbox container,
 * real SMTP and webhook receivers.
 */
import { dataIntegrityViolation } from '../../workflows';
import { approvalSignal } from '../../definitions/approval';
import { abandonSignal, stateQuery } from '../../definitions/messages';
import { releaseHoldSignal } from '../../workflows/hold-release';
import { targetLeaseStateQuery, targetLeaseWorkflowId } from '../../definitions/target-guard';
import { startIncidentRig, type IncidentRig } from '../../rig/incident-rig';
import { uniqueId } from '../../rig/env';
import { waitUntil } from '../../rig/sandbox';
import { codeCount } from '../../rig/approvals';

let rig: IncidentRig;

beforeAll(async () => {
  rig = await startIncidentRig({ name: 'release', approvals: true, chatHook: 'incidents' });
  await rig.startWorker();
});

afterAll(async () => {
  await rig?.close();
});

const containerRunning = async () =>
  (await rig.sandbox.docker.getContainer(rig.sandbox.name).inspect()).State.Running;

test('an abandoned P0-4 keeps its hold; only a releaseHold the CEO approves with a code drops it', async () => {
  const p04 = await rig.env.client.workflow.start(dataIntegrityViolation, {
    taskQueue: rig.taskQueue,
    workflowId: uniqueId('wf-release-p04'),
    args: [
      {
        incidentId: uniqueId('P0-4'),
        target: rig.sandbox.name,
        trigger: { source: 'manual', startedBy: 'test', description: 'calculation error' },
        policy: { verifyWindowMs: 30_000, verifyIntervalMs: 500, reminderEveryMs: 30 * 60_000 },
      },
    ],
  });
  await waitUntil(
    'P0-4 to wait for approval',
    async () => !!(await p04.query(stateQuery)).waitingFor,
    90_000,
  );
  expect(await containerRunning()).toBe(false);

  // Abandoned with the CTO's code: the API stays stopped and held.
  const ctoBefore = codeCount(rig.world, 'cto');
  await p04.signal(abandonSignal, { by: 'oncall', reason: 'handing over to the data team' });
  const ctoCode = await rig.world.waitForCode('cto', ctoBefore);
  await p04.signal(abandonSignal, { by: 'cto', reason: 'confirmed', code: ctoCode });
  expect((await p04.result()).status).toBe('abandoned');
  const guard = rig.env.client.workflow.getHandle(targetLeaseWorkflowId(rig.sandbox.name));
  expect((await guard.query(targetLeaseStateQuery)).holds).toHaveLength(1);
  expect(await containerRunning()).toBe(false);

  // A forged approval at the guard before any request changes nothing (recorded in its log).
  await guard.signal(approvalSignal, {
    approver: 'ceo',
    decision: 'approve',
    reason: 'let it go',
    code: 'ABCDE-FGHJK',
  });
  await waitUntil('the forged approval to be refused', async () =>
    (await guard.query(targetLeaseStateQuery)).log.some((l) => l.includes('no approval has been requested')),
  );
  // The release: asked by a person, confirmed by the CEO with the code sent to them.
  const ceoBefore = codeCount(rig.world, 'ceo');
  await guard.signal(releaseHoldSignal, { by: 'dana (data team)', reason: 'ledger recomputed and verified' });
  const code = await rig.world.waitForCode('ceo', ceoBefore);
  expect((await guard.query(targetLeaseStateQuery)).holds).toHaveLength(1);
  // A guessed code is refused.
  await guard.signal(approvalSignal, {
    approver: 'ceo',
    decision: 'approve',
    reason: 'guess',
    code: 'ZZZZZ-ZZZZZ',
  });
  // The CTO's code is worthless here (CEO required) and now spent.
  await guard.signal(approvalSignal, { approver: 'cto', decision: 'approve', reason: 'me too', code });
  await waitUntil('the CTO attempt to be refused', async () =>
    ((await guard.query(targetLeaseStateQuery)).approvals ?? []).some((g) =>
      g.attempts.some((a) => a.approver === 'cto' && !a.accepted),
    ),
  );
  expect((await guard.query(targetLeaseStateQuery)).holds).toHaveLength(1);
  const fresh = await rig.world.waitForCode('ceo', ceoBefore + 1);
  await guard.signal(approvalSignal, {
    approver: 'ceo',
    decision: 'approve',
    reason: 'verified',
    code: fresh,
  });
  await waitUntil(
    'the hold to be released',
    async () => (await guard.query(targetLeaseStateQuery)).holds.length === 0,
  );
  const s = await guard.query(targetLeaseStateQuery);
  expect(s.log.join('\n')).toMatch(/released at the request of dana \(data team\) .*approved by ceo \(CEO\)/);
  expect(s.approvals!.some((g) => g.attempts.some((a) => a.refusedBecause === 'code does not match'))).toBe(
    true,
  );
  // Nothing started the API by itself: releasing only lets runbooks act again.
  expect(await containerRunning()).toBe(false);
  await guard.terminate('test done').catch(() => undefined);
}, 240_000);
