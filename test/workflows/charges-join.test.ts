/**
 * New charges join a running P0-3 (issue 18): from a later alert through the real intake (HTTP, the
 * Alertmanager webhook), from the `addCharges` signal (what the UI's "Send a Signal" sends) and from
 * the CLI's client function. Each is checked (charge ID format, duplicates), refunded with its own
 * idempotency key within the worker's refund caps (over a cap it waits for the CEO), shown in the
 * state and the current details, and announced to CEO + CTO. Time-skipping server, real activities:
 * stripe-mock behind the recording proxy (a charge is 100, a payment intent 1099), PostgreSQL, a
 * sandbox API, real SMTP and webhook receivers. (The built CLI itself: test/cli/cli.e2e.test.ts.)
 */
import type { WorkflowHandle } from '@temporalio/client';
import type { FastifyInstance } from 'fastify';
import { addCharges } from '../../client/charges';
import { generateIncidentReport } from '../../common/report/index';
import { incidentWorkflowId } from '../../client/incidents';
import { alertRunbookMap } from '../../client/intake/mapping';
import { temporalGateway } from '../../client/intake/delivery';
import { buildIntake } from '../../client/intake/server';
import { addChargesSignal, stateQuery } from '../../definitions/messages';
import { approvalSignal } from '../../definitions/approval';
import type { ChargeEntry, ChargeRequestRecord } from '../../definitions/charges';
import type { IncidentState } from '../../definitions/types';
import { waitUntil } from '../../rig/sandbox';
import { recordedCode } from '../../rig/approvals';
import { startBillingRig, type BillingRig } from '../../rig/billing-rig';
import { currentDetails } from '../observability/watch';

const TOKEN = 'charges-join-test-token-0123456789';
let rig: BillingRig;
let intake: FastifyInstance;
let intakeUrl: string;

beforeAll(async () => {
  rig = await startBillingRig({ name: 'join' });
  await rig.startWorker({
    // A payment intent (1099) is over the per-charge cap; charges (100) are under it.
    workerEnv: {
      REFUND_CAP_PER_CHARGE: '500',
      REFUND_CAP_PER_INCIDENT: '100000',
      REFUND_CAP_COUNT_PER_INCIDENT: '10',
    },
    worker: { shutdownGraceTime: '1s', maxCachedWorkflows: 0 },
  });
  // The real intake, in-process, delivering to the time-skipping server.
  intake = await buildIntake({
    auth: { bearerToken: TOKEN },
    bodyLimitBytes: 64 * 1024,
    targetLabels: ['service'],
    alertRunbooks: alertRunbookMap(),
    unknownAlerts: 'reject',
    gateway: temporalGateway(rig.env.client, rig.taskQueue),
  });
  await intake.listen({ host: '127.0.0.1', port: 0 });
  const address = intake.server.address();
  intakeUrl = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
});

afterAll(async () => {
  await intake?.close();
  await rig?.close();
});

async function alert(fingerprint: string, charges: string) {
  const res = await fetch(`${intakeUrl}/alerts/alertmanager`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      version: '4',
      groupKey: '{}:{alertname="BillingError"}',
      truncatedAlerts: 0,
      status: 'firing',
      receiver: 'accubooks-runbooks',
      groupLabels: {},
      commonLabels: {},
      commonAnnotations: {},
      externalURL: 'http://alertmanager.local',
      alerts: [
        {
          status: 'firing',
          labels: {
            alertname: 'BillingError',
            service: rig.sandbox.name,
            severity: 'P0',
            reported_by: 'billing-monitor',
          },
          annotations: { summary: 'incorrect charge', charges },
          startsAt: new Date(Date.now() - 60_000).toISOString(),
          endsAt: '0001-01-01T00:00:00Z',
          generatorURL: 'http://prometheus.local/graph',
          fingerprint,
        },
      ],
    }),
    signal: AbortSignal.timeout(30_000),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

const state = (h: WorkflowHandle) => h.query<IncidentState>(stateQuery);
const entries = async (h: WorkflowHandle) =>
  ((await state(h)).checks.charges as { list: ChargeEntry[] } | undefined)?.list ?? [];
const entry = async (h: WorkflowHandle, c: string) => (await entries(h)).find((e) => e.charge === c);
const requests = async (h: WorkflowHandle) =>
  ((await state(h)).checks.chargeRequests as { list: ChargeRequestRecord[] } | undefined)?.list ?? [];
const refundsOf = (charge: string) => rig.stripe.refunds().filter((r) => r.body.includes(charge));

const ceoCode = (h: WorkflowHandle, gate: string, not?: string) =>
  recordedCode(rig.world, h, 'ceo', gate, not);

test('new charges join the running P0-3 from a later alert (intake), the addCharges signal and the CLI path: checked, de-duplicated, refunded once each with their own key, capped, shown and announced', async () => {
  const workflowId = incidentWorkflowId('P0-3', rig.sandbox.name);
  // The first alert starts the incident.
  const first = await alert('fp-join-1', 'ch_joinfirst');
  expect(first.status).toBe(200);
  expect(first.body).toMatchObject({ started: 1 });
  const handle = rig.env.client.workflow.getHandle(workflowId);
  await waitUntil(
    'the first refund',
    async () => (await entry(handle, 'ch_joinfirst'))?.status === 'refunded',
    90_000,
  );
  const { incidentId } = await state(handle);

  // A bad charge ID in an alert is refused by the intake, naming it; nothing reaches the incident.
  const bad = await alert('fp-join-bad', 'ch_joinok, not-a-charge');
  expect(bad.status).toBe(422);
  expect(bad.body.message).toContain(
    '"not-a-charge" is not a Stripe charge (ch_…) or payment intent (pi_…) ID',
  );

  // 1. A second "incorrect charge" alert for the same target joins with its charges.
  const second = await alert('fp-join-2', 'ch_joinsecond, pi_joinbig, ch_joinfirst');
  expect(second.status).toBe(200);
  expect(second.body).toMatchObject({ joined: 1 });
  await waitUntil(
    'the alert charges',
    async () => (await entry(handle, 'ch_joinsecond'))?.status === 'refunded',
    90_000,
  );
  await waitUntil(
    'the big one to wait',
    async () => (await entry(handle, 'pi_joinbig'))?.status === 'waiting-approval',
  );
  const fromAlert = (await requests(handle)).find((r) => r.via === 'alert');
  expect(fromAlert).toMatchObject({
    by: 'billing-monitor',
    added: ['ch_joinsecond', 'pi_joinbig'],
    duplicates: ['ch_joinfirst'],
    invalid: [],
  });
  expect(await entry(handle, 'ch_joinsecond')).toMatchObject({ source: 'alert', addedBy: 'billing-monitor' });
  expect((await entry(handle, 'pi_joinbig'))?.overCap).toContain(
    '1099 usd is over the per-charge cap of 500 usd',
  );

  // 2. The UI's signal: a new one, a duplicate and a bad ID, each said; a malformed one refused.
  await handle.signal(addChargesSignal, {
    charges: ['ch_joinsignal', 'ch_joinsecond', 'bogus'],
    by: 'ui-user',
    reason: 'customer called',
    requestId: 'ui-1',
  });
  await handle.signal(addChargesSignal, { charges: ['ch_joinnobody'] } as never);
  await waitUntil(
    'the signal charges',
    async () => (await entry(handle, 'ch_joinsignal'))?.status === 'refunded',
    90_000,
  );
  const reqs = await requests(handle);
  expect(reqs.find((r) => r.requestId === 'ui-1')).toMatchObject({
    via: 'signal',
    by: 'ui-user',
    added: ['ch_joinsignal'],
    duplicates: ['ch_joinsecond'],
    invalid: ['bogus'],
  });
  expect(reqs.find((r) => r.by === '(missing)')).toMatchObject({
    refusedBecause: 'missing "by" (who reports these charges)',
    added: [],
  });
  expect(await entry(handle, 'ch_joinnobody')).toBeUndefined();

  // 3. The CLI's path (client/charges.ts): a bad ID is refused before anything is sent; then the answer.
  await expect(addCharges(handle, { charges: ['ch_ok', 'ch_bad-1'], by: 'oncall' })).rejects.toThrow(
    '"ch_bad-1" is not a Stripe charge (ch_…) or payment intent (pi_…) ID',
  );
  expect(await entry(handle, 'ch_ok')).toBeUndefined();
  const viaCli = await addCharges(handle, {
    charges: ['ch_joincli', 'ch_joinsignal'],
    by: 'oncall',
    reason: 'ticket 42',
  });
  expect(viaCli).toMatchObject({ via: 'signal (CLI)', added: ['ch_joincli'], duplicates: ['ch_joinsignal'] });
  await waitUntil(
    'the CLI charge',
    async () => (await entry(handle, 'ch_joincli'))?.status === 'refunded',
    90_000,
  );

  // Each refunded exactly once, with its own key; the duplicates were not refunded again.
  for (const c of ['ch_joinfirst', 'ch_joinsecond', 'ch_joinsignal', 'ch_joincli'])
    expect(refundsOf(c).map((r) => r.idempotencyKey)).toEqual([`${incidentId}/refund/${c}`]);
  expect(refundsOf('pi_joinbig')).toHaveLength(0);
  const s = await state(handle);
  expect((s.checks.refunds as { idempotencyKey: string }[]).map((r) => r.idempotencyKey).sort()).toEqual(
    ['ch_joincli', 'ch_joinfirst', 'ch_joinsecond', 'ch_joinsignal']
      .map((c) => `${incidentId}/refund/${c}`)
      .sort(),
  );
  const details = await currentDetails(handle);
  expect(details).toContain('ch_joincli refunded');
  expect(details).toContain('pi_joinbig: 1099 usd, waits for approval');

  // Announced to CEO + CTO, with the one over the cap listed; the over-cap approval message lists it too.
  const added = await rig.world.mailbox.waitFor(
    (m) => m.subject.includes('Charges added: ch_joinsecond, pi_joinbig') && m.subject.includes(incidentId),
  );
  expect(added.to.sort()).toEqual(['ceo@accubooks.test', 'cto@accubooks.test']);
  expect(added.text).toMatch(/pi_joinbig 1099 usd: waiting-approval/);
  await rig.world.mailbox.waitFor(
    (m) =>
      m.to.includes('ceo@accubooks.test') &&
      m.text.includes(incidentId) &&
      /pi_joinbig: 1099 usd/.test(m.text) &&
      /over the cap/i.test(m.text),
  );

  // The CEO approves the big one and resumes billing: every charge ends refunded.
  await handle.signal(approvalSignal, {
    approver: 'ceo',
    decision: 'approve',
    reason: 'verified',
    code: await ceoCode(handle, 'refund-over-cap'),
  });
  await waitUntil(
    'the approved refund',
    async () => (await entry(handle, 'pi_joinbig'))?.status === 'refunded',
    90_000,
  );
  await handle.signal(approvalSignal, {
    approver: 'ceo',
    decision: 'approve',
    reason: 'resume',
    code: await ceoCode(handle, 'resume-billing'),
  });
  const final = await handle.result();
  expect(final.status).toBe('resolved');
  // The report lists every charge, where it came from and what became of it.
  const report = await generateIncidentReport(rig.env.client, workflowId);
  expect(report).toContain('## Charges and refunds');
  expect(report).toMatch(/\| ch_joinsignal \| signal \| ui-user \| refunded \| 100 usd \| re_/);
  expect(report).toMatch(
    /\| pi_joinbig \| alert \| billing-monitor \| refunded \| 1099 usd \| .*approved by ceo \(CEO\)/,
  );
  expect(report).toMatch(/\| ch_joincli \| signal \(CLI\) \| oncall \| refunded/);
  expect((final.checks.charges as { list: ChargeEntry[] }).list.map((e) => [e.charge, e.status])).toEqual([
    ['ch_joinfirst', 'refunded'],
    ['ch_joinsecond', 'refunded'],
    ['pi_joinbig', 'refunded'],
    ['ch_joinsignal', 'refunded'],
    ['ch_joincli', 'refunded'],
  ]);
});
