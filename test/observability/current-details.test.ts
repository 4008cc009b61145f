/**
 * The current details (the Markdown the Temporal UI shows under "Current details") at each stage of
 * P0-1 and P0-3, read as the UI reads them: the `__temporal_workflow_metadata` query on the dev
 * server. Real activities against a sandbox container of this file's own, stripe-mock behind a
 * recording proxy, a real SMTP server and webhook receivers for the approvers.
 */
import { startIncident } from '../../client/incidents';
import { stateQuery } from '../../definitions/messages';
import { approvalSignal, type ApprovalAttempt } from '../../definitions/approval';
import type { IncidentState } from '../../definitions/types';
import {
  CURRENT_DETAILS_MAX_CHARS,
  renderCurrentDetails,
  TIMELINE_MAX_STEPS,
} from '../../workflows/current-details';
import { startBillingRig, type BillingRig } from '../../rig/billing-rig';
import { uniqueId } from '../../rig/env';
import { waitUntil } from '../../rig/sandbox';
import { currentDetails, terminateRunning, watchDetails, workflowMetadata } from './watch';

let rig: BillingRig;

beforeAll(async () => {
  rig = await startBillingRig({
    name: 'obs',
    server: 'dev',
    pagerDutyRoutingKey: 'obs-routing-key',
    chatHook: 'incidents',
  });
  await rig.startWorker();
});

afterAll(async () => {
  if (rig) await terminateRunning(rig.client, rig.sandbox.name);
  await rig?.close();
});

const find = (seen: string[], re: RegExp) => seen.find((d) => re.test(d));

test('P0-1: the current details follow checking, restart and verify, escalation, and resolution', async () => {
  // Health hangs (and keeps hanging after a restart): every check takes its full timeout, so the
  // checking stage lasts long enough to be read.
  await rig.sandbox.inject({ fault: 'hang', persist: true });
  const handle = await startIncident({
    client: rig.client,
    taskQueue: rig.taskQueue,
    runbook: 'P0-1',
    target: rig.sandbox.name,
    trigger: { source: 'manual', startedBy: 'observability test', description: 'API hangs' },
    workflowId: uniqueId('obs-details-P0-1'),
    policy: {
      // Long enough that the first stage ("1. Check health" on a hung API) is seen on a loaded machine.
      healthTimeoutMs: 4000,
      verifyWindowMs: 2000,
      verifyIntervalMs: 500,
      stopTimeoutSec: 2,
      maxRestarts: 1,
      escalateAfterMs: 20_000,
      recheckIntervalMs: 1000,
      maxRecheckIntervalMs: 2000,
    },
  });
  const watch = watchDetails(handle);
  let escalatedDetails: string | undefined;
  try {
    // The query answers with the handlers too, so the UI can offer them by name.
    const meta = await workflowMetadata(handle);
    expect(meta.definition?.type).toBe('systemDown');
    expect(meta.definition?.signalDefinitions?.map((s) => s.name)).toEqual(
      expect.arrayContaining(['resolve', 'abandon']),
    );

    // The page recorded and shown (not only the status), before the fix arrives. What this wait saw
    // is kept too: on a loaded machine the watcher's own samples can miss the escalated moment.
    await waitUntil(
      'the escalation page in the details',
      async () => {
        const d = await currentDetails(handle);
        if (!/\*\*Escalated\*\* 1×/.test(d)) return false;
        escalatedDetails = d;
        return true;
      },
      60_000,
    );
    await rig.sandbox.clearFaults();
    const final = (await handle.result()) as IncidentState;
    expect(final.status).toBe('resolved');
    await waitUntil('the final details', async () =>
      /\*\*Status\*\* resolved/.test(await currentDetails(handle)),
    );
  } finally {
    await watch.stop();
  }
  const seen = [...watch.seen, ...(escalatedDetails ? [escalatedDetails] : []), await currentDetails(handle)];

  const checking = find(seen, /\*\*Status\*\* investigating · \*\*Step\*\* 1\. Check health/);
  expect(checking).toBeDefined();
  expect(checking).toContain('**Next escalation**');

  const verifying = find(seen, /\*\*Status\*\* remediating · \*\*Step\*\* 4\. Verify: health returns 200/);
  expect(verifying).toBeDefined();
  expect(verifying).toMatch(/\| health \| unhealthy \(/); // the last check's value
  expect(verifying).toMatch(/\*\*Next escalation\*\* \d{4}-\d\d-\d\dT/);
  expect(verifying).toMatch(/\| restarts \| 1 \|/);

  // Escalated as soon as the timer fires; the page's delivery shows once the page activity is done.
  expect(find(seen, /\*\*Status\*\* escalated/)).toBeDefined();
  const escalated = find(seen, /\*\*Escalated\*\* 1×/);
  expect(escalated).toMatch(/^\*\*Status\*\* escalated/);
  expect(escalated).toMatch(/\*\*Escalated\*\* 1× \(last .* to engineering lead \(CTO\)\)/);

  // The steps so far, one line each: clock time, time since detection, outcome, title, how long.
  expect(verifying).toContain('**Steps so far** (UTC, time since detection)');
  expect(verifying).toMatch(/^\d\d:\d\d:\d\d \+0:\d\d [✓✗] 1\. Check health \((\d+ ms|\d+\.\d s)\)$/m);
  expect(verifying).toMatch(/^\d\d:\d\d:\d\d \+0:\d\d ✓ 3\. Restart \(1\/1\) \((\d+ ms|\d+\.\d s)\)$/m);
  expect(verifying).toMatch(/^\d\d:\d\d:\d\d \+0:\d\d ▶ 4\. Verify: health returns 200 \(running\)$/m);
  for (const d of seen) expect(d.length).toBeLessThanOrEqual(CURRENT_DETAILS_MAX_CHARS);

  const resolved = seen.at(-1)!;
  expect(resolved).toMatch(/^\*\*Status\*\* resolved · \*\*Step\*\* resolved/);
  expect(resolved).toMatch(
    /^\d\d:\d\d:\d\d \+0:\d\d [✓✗] 4\. Verify: health returns 200 \((\d+ ms|\d+\.\d s)\)$/m,
  );
  expect(resolved).toContain('**Outcome** health returned to 200');
  expect(resolved).not.toContain('Next escalation');
  expect(resolved).toMatch(/\| health \| healthy \(200\)/);
});

test('P0-3: the current details follow the freeze, the refunds, the wait for the CEO (signal and JSON), and the resume', async () => {
  const held = rig.stripe.hold((r) => r.path.startsWith('/v1/refunds') && r.body.includes('ch_obsdetails'));
  const handle = await startIncident({
    client: rig.client,
    taskQueue: rig.taskQueue,
    runbook: 'P0-3',
    target: rig.sandbox.name,
    trigger: { source: 'manual', startedBy: 'observability test', description: 'customer charged twice' },
    extraInput: { charges: ['ch_obsdetails'], reportedBy: 'support@accubooks.test' },
    workflowId: uniqueId('obs-details-P0-3'),
    policy: { verifyWindowMs: 30_000, verifyIntervalMs: 500 },
  });
  const watch = watchDetails(handle);
  let waiting = '';
  try {
    // Refunds: held at Stripe, so the details are read while the refund is in flight.
    await held.arrived;
    const refunding = await currentDetails(handle);
    expect(refunding).toMatch(/\*\*Status\*\* remediating · \*\*Step\*\* 2\. Full refund of ch_obsdetails/);
    expect(refunding).toMatch(/\| billingSwitch \| .*"enabled":false/);
    held.drop(); // the answer is lost; the retry sends the same idempotency key

    await waitUntil(
      'the wait for the CEO',
      async () => (await handle.query(stateQuery)).waitingFor !== undefined,
      90_000,
    );
    waiting = await currentDetails(handle);
    const code = await rig.world.waitForCode('ceo');
    // What a person pastes into "Send a Signal": the example shown, filled in.
    const shown = JSON.parse(/```json\n([\s\S]*?)\n```/.exec(waiting)![1]) as ApprovalAttempt;
    await handle.signal(approvalSignal, { ...shown, approver: 'ceo', code, reason: 'refunds verified' });
    const final = (await handle.result()) as IncidentState;
    expect(final.status).toBe('resolved');
    await waitUntil('the final details', async () =>
      /\*\*Status\*\* resolved/.test(await currentDetails(handle)),
    );
  } finally {
    await watch.stop();
  }
  const seen = [...watch.seen, await currentDetails(handle)];

  const freezing = find(
    seen,
    /\*\*Step\*\* (1\. Freeze billing|Restart app so the freeze takes effect|Verify .* is back)/,
  );
  expect(freezing).toMatch(/\*\*Status\*\* remediating/);

  expect(waiting).toMatch(/\*\*Status\*\* awaiting-approval/);
  expect(waiting).toContain('### Waiting for: CEO approval');
  expect(waiting).toContain('Send a Signal named `approval` with this JSON');
  const example = JSON.parse(/```json\n([\s\S]*?)\n```/.exec(waiting)![1]) as Record<string, string>;
  expect(example).toEqual({
    approver: '<your approver id>',
    decision: 'approve',
    reason: '<why>',
    code: '<code you received>',
  });
  expect(waiting).toMatch(/\| refunds \| .*ch_obsdetails/);

  const resumed = seen.at(-1)!;
  expect(resumed).toMatch(/^\*\*Status\*\* resolved/);
  expect(resumed).toContain('**Outcome** billing resumed after approval by ceo (CEO)');
  expect(resumed).not.toContain('Waiting for');
  expect(resumed).toMatch(/\| billingSwitch \| .*"enabled":true/);
});

test('a long incident: the latest steps only, within the size the details panel shows, the signal JSON whole', () => {
  const at = (s: number) => new Date(Date.parse('2026-12-05T06:00:00.000Z') + s * 1000).toISOString();
  const steps = Array.from({ length: 300 }, (_, i) => ({
    name: 'recheck',
    title: `Re-check health of ${'a-very-long-container-name-'.repeat(4)}${i}`,
    status: 'done' as const,
    startedAt: at(60 * i + 2),
    finishedAt: at(60 * i + 4),
  }));
  steps.push({ ...steps[0], title: '5. Resume billing', status: 'running' as never, startedAt: at(18_010) });
  const example = {
    approver: '<your approver id>',
    decision: 'approve',
    reason: '<why>',
    code: '<code you received>',
  };
  const state = {
    incidentId: 'P0-3-long',
    runbook: 'P0-3',
    title: 'P0-3 Billing error: api',
    severity: 'P0',
    target: 'api',
    status: 'awaiting-approval',
    currentStep: '5. Resume billing',
    trigger: { source: 'manual' },
    steps,
    checks: Object.fromEntries(
      Array.from({ length: 40 }, (_, i) => [`check${i}`, { detail: 'x'.repeat(300) }]),
    ),
    escalations: [],
    alerts: { firing: 1, resolved: 0 },
    mttr: { detectedAt: at(0), remediationStartedAt: at(0), targetMs: 1_800_000, breached: true },
    decisions: [],
    failing: { stripe: 'connection refused '.repeat(200) },
    waitingFor: { what: 'CEO approval', signal: 'approval', example, since: at(18_000) },
  } as unknown as IncidentState;

  const details = renderCurrentDetails(state);
  expect(details.length).toBeLessThanOrEqual(CURRENT_DETAILS_MAX_CHARS);
  const timeline = /\*\*Steps so far\*\*.*\n```\n([\s\S]*?)\n```/.exec(details)![1].split('\n');
  expect(timeline[0]).toBe(`… ${301 - TIMELINE_MAX_STEPS} earlier steps`);
  expect(timeline).toHaveLength(TIMELINE_MAX_STEPS + 1);
  expect(timeline.at(-2)).toMatch(
    /^10:59:02 \+4:59:02 ✓ Re-check health of a-very-long-container-name-a-very-long-c… \(2\.0 s\)$/,
  );
  expect(timeline.at(-1)).toBe('11:00:10 +5:00:10 ▶ 5. Resume billing (running)');
  // Cut below the timeline, never in the middle of a code block, and the JSON to send stays whole.
  expect(details).toContain('_… cut to fit the details panel_');
  expect(details.match(/^```/gm)!.length % 2).toBe(0);
  expect(JSON.parse(/```json\n([\s\S]*?)\n```/.exec(details)![1])).toEqual(example);
});
