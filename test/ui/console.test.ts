/**
 * The Temporal Web UI as the on-call console, in headless Chromium (Debian's, via playwright-core):
 * an incident shows its summary, the runbook's actions and live current details, and a person can
 * close it with "Send a Signal". Screenshots are saved under test-artifacts/ui/.
 */
import type { Browser, Page } from 'playwright-core';
import { startIncident } from '../../client/incidents';
import { stateQuery } from '../../definitions/messages';
import type { IncidentState } from '../../definitions/types';
import { startIncidentRig, type IncidentRig } from '../../rig/incident-rig';
import { need, uniqueId } from '../../rig/env';
import { waitUntil } from '../../rig/sandbox';
import { launchChromium, screenshot } from '../../rig/browser';
import { openWorkflow, readUserMetadata, sendSignalThroughUi } from '../../rig/temporal-ui';

let rig: IncidentRig;
let browser: Browser;
let page: Page;

beforeAll(async () => {
  rig = await startIncidentRig({ name: 'ui', server: 'dev', approvals: true, chatHook: 'incidents' });
  await rig.startWorker();
  browser = await launchChromium();
  page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
});

afterAll(async () => {
  await browser?.close();
  await rig?.close();
});

test('a P0-1 incident reads like the runbook in the UI, and a person resolves it with Send a Signal', async () => {
  await rig.sandbox.inject({ fault: 'fail-health', persist: true });
  const workflowId = uniqueId('ui-incident-P0-1');
  const handle = await startIncident({
    client: rig.client,
    taskQueue: rig.taskQueue,
    runbook: 'P0-1',
    target: rig.sandbox.name,
    trigger: { source: 'manual', startedBy: 'ui test' },
    workflowId,
    policy: { verifyWindowMs: 3000, maxRestarts: 1 },
  });
  await waitUntil(
    'the failed verification',
    async () =>
      (await handle.query(stateQuery)).steps.some((s) => s.name === 'verify' && s.status !== 'running'),
    60_000,
  );

  await openWorkflow(page, need('TEMPORAL_UI_URL'), workflowId);
  const metadata = await readUserMetadata(page);
  await screenshot(page, 'p0-1-user-metadata');
  expect(metadata).toContain(`P0-1 System down: ${rig.sandbox.name}`);
  expect(metadata).toContain('Restart the API container');
  expect(metadata).toContain('Escalate if not resolved in 15 minutes');
  expect(metadata).toMatch(/Status\s+remediating/);
  expect(metadata).toContain('Next escalation');
  expect(metadata).toMatch(/unhealthy \(503/);

  // A resolve is a claim the runbook checks (health 200): Jane fixes it first, then says so.
  await rig.sandbox.clearFaults();
  await sendSignalThroughUi(page, 'resolve', {
    by: 'Jane On-call',
    reason: 'fixed the health check by hand',
  });
  const final = (await handle.result()) as IncidentState;
  await screenshot(page, 'p0-1-after-resolve');
  expect(final.status).toBe('resolved');
  expect(final.closedBy).toMatchObject({
    action: 'resolve',
    by: 'Jane On-call',
    reason: 'fixed the health check by hand',
  });
  await rig.sandbox.clearFaults();
});

test("P0-4 awaiting approval: the UI says what to paste; a forged approval is refused, the CEO's resumes the API", async () => {
  const workflowId = uniqueId('ui-incident-P0-4');
  const handle = await startIncident({
    client: rig.client,
    taskQueue: rig.taskQueue,
    runbook: 'P0-4',
    target: rig.sandbox.name,
    trigger: {
      source: 'manual',
      startedBy: 'ui test',
      description: 'cross-tenant leakage seen in support ticket',
    },
    extraInput: { violation: 'cross-tenant leakage (ui test)' },
    workflowId,
  });
  await waitUntil(
    'the approval gate',
    async () => (await handle.query(stateQuery)).waitingFor !== undefined,
    90_000,
  );
  const ceoCode = await rig.world.waitForCode('ceo');
  const running = async () =>
    (await rig.sandbox.docker.getContainer(rig.sandbox.name).inspect()).State.Running;
  expect(await running()).toBe(false);

  await openWorkflow(page, need('TEMPORAL_UI_URL'), workflowId);
  const metadata = await readUserMetadata(page);
  await screenshot(page, 'p0-4-awaiting-approval');
  expect(metadata).toContain(`P0-4 Data integrity violation: ${rig.sandbox.name}`);
  expect(metadata).toMatch(/Status\s+awaiting-approval/);
  expect(metadata).toContain('Send a Signal named approval');
  // The JSON the person was told to paste, exactly as the UI shows it.
  const example = JSON.parse(/(\{\s*"approver"[\s\S]*?\})/.exec(metadata)![1]) as Record<string, string>;
  expect(Object.keys(example).sort()).toEqual(['approver', 'code', 'decision', 'reason']);

  // A forgery: the CTO claims the CEO's gate with the CEO's code.
  await sendSignalThroughUi(page, 'approval', {
    ...example,
    approver: 'cto',
    code: ceoCode,
    reason: 'forged in the UI',
  });
  await waitUntil('the refusal to be recorded', async () => {
    const gate = (await handle.query(stateQuery)).approvals?.[0];
    return (gate?.attempts.length ?? 0) >= 1;
  });
  const refused = (await handle.query(stateQuery)).approvals![0].attempts.at(-1)!;
  expect(refused).toMatchObject({ approver: 'cto', accepted: false });
  expect(refused.refusedBecause).toBeTruthy();
  // The forgery carried the CEO's live code: it is spent, and the CEO gets a new one at once.
  expect(refused.spentCodeOf).toBe('ceo');
  expect(JSON.stringify(await handle.query(stateQuery))).not.toContain(ceoCode);
  expect(await running()).toBe(false);
  const freshCode = await rig.world.waitForCode('ceo', 1);
  expect(freshCode).not.toBe(ceoCode);

  // The real approval, pasted as told, with the new code.
  await sendSignalThroughUi(page, 'approval', {
    ...example,
    approver: 'ceo',
    code: freshCode,
    reason: 'leak contained, verified',
  });
  await waitUntil('the API to be started again', running, 60_000);
  await waitUntil(
    'health 200 after the approved restart',
    async () => (await rig.sandbox.health()) === 200,
    60_000,
  );
  const final = (await handle.result()) as IncidentState;
  await openWorkflow(page, need('TEMPORAL_UI_URL'), workflowId);
  await screenshot(page, 'p0-4-after-approval');
  expect(final.status).toBe('resolved');
  const gate = final.approvals![0];
  expect(gate.status).toBe('approved');
  expect(gate.attempts.map((a) => [a.approver, a.accepted])).toEqual([
    ['cto', false],
    ['ceo', true],
  ]);
});
