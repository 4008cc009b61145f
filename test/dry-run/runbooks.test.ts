/**
 * Dry runs against the real stack, one runbook at a time, each on the fault its real-run scenario
 * uses (rig/scenarios/): the plan (workflows/dry-run.ts) lists every action the real run then takes
 * on the same fault to its end, in the same order, each with the target guard's answer, and the
 * dry run changes nothing (Docker /events, PostgreSQL, Redis, the Stripe proxy). P0-3's and P0-4's
 * dry runs are approved with the real code their approver received, marked as a rehearsal.
 */
import { Client as PgClient } from 'pg';
import Redis from 'ioredis';
import { startRunbookRig, type RunbookRig } from '../../rig/runbook-rig';
import { recordedCode, startApprovalWorld, type ApprovalWorld } from '../../rig/approvals';
import { approvalSignal } from '../../definitions/approval';
import { REHEARSAL_MARK } from '../../activities/approvals';
import { startStripeProxy, type StripeProxy } from '../../rig/stripe-proxy';
import { stripeFrom } from '../../worker/clients';
import { need, uniqueId } from '../../rig/env';
import { testDocker, waitUntil } from '../../rig/sandbox';
import { DEFAULT_P95_QUERY } from '../../definitions/policies/high-latency';
import type { IncidentState } from '../../definitions/types';
import {
  appName,
  errorRate,
  fastSampling,
  leakedPoolPolicy,
  queueFloodPolicy,
  slowQueriesPolicy,
} from '../../rig/scenarios/kit';
import type { WorkflowHandle } from '@temporalio/client';
import { assertCliBuilt, cliOn } from '../../rig/cli';
import { DryRunKey } from '../../workflows/search-attributes';
import { dryRunThenReal, expectPlanMatches } from './plan-matches';
import type { World } from './side-effects';

let rig: RunbookRig;
let world: ApprovalWorld;
let stripe: StripeProxy;
let admin: PgClient;
let watched: World;
let redis: Redis;
const billingKey = uniqueId('billing').replace(/[^A-Za-z0-9_.:-]/g, '_');

beforeAll(async () => {
  [world, stripe] = await Promise.all([startApprovalWorld(), startStripeProxy(need('STRIPE_API_BASE'))]);
  rig = await startRunbookRig('dryrun', {
    notify: { mailer: world.mailbox.transport(), mailFrom: 'runbooks@accubooks.test' },
    approvers: world.directory,
    billing: { key: billingKey },
    stripe: stripeFrom(need('STRIPE_API_KEY'), stripe.url),
  });
  const adminUrl = new URL(need('PG_ADMIN_URL'));
  adminUrl.pathname = '/accubooks';
  admin = new PgClient({ connectionString: adminUrl.toString() });
  await admin.connect();
  await admin.query('GRANT SELECT, UPDATE ON billing_config TO runbook');
  redis = new Redis(need('REDIS_URL'));
  watched = {
    docker: testDocker(),
    pg: rig.clients.deps.pg,
    redis,
    stripe,
    billingKeys: [billingKey, 'default'],
  };
}, 180_000);

afterAll(async () => {
  await rig?.close();
  await Promise.allSettled([world?.close(), stripe?.close(), admin?.end(), redis?.quit()]);
}, 120_000);

/** The crash is over (the engine saw the container die), so no event of it falls in a dry run's window. */
const exited = (name: string) =>
  waitUntil(`${name} to exit`, async () => !(await testDocker().getContainer(name).inspect()).State.Running);

const untilClosed = async (h: { result(): Promise<unknown> }) => {
  await h.result();
};

test('P0-1 on a crashed API: the plan restarts (guard: would grant), assumes health 200 and ends resolved, as the real run does', async () => {
  const sb = await rig.sandbox('abk-dry-p01');
  await sb.inject({ fault: 'crash' });
  await exited(sb.name);
  const r = await dryRunThenReal(
    rig,
    watched,
    {
      runbook: 'P0-1',
      target: sb.name,
      trigger: { source: 'alert', alertName: 'SystemUnreachable', values: { up: 0 } },
      policy: { verifyWindowMs: 8_000, verifyIntervalMs: 500 },
    },
    untilClosed,
  );
  expectPlanMatches(r);
  expect(r.planned.map((a) => a.kind)).toEqual(['restart']);
  expect(r.plan.dryRun!.plan[0].guard).toMatchObject({ wouldGrant: true });
  expect(r.plan.dryRun!.plan[1]).toMatchObject({ kind: 'verify', inputs: { assumed: 'health returns 200' } });
  expect(r.plan.dryRun!.end).toMatch(/resolved: health 200 after restart 1/);
  // The diagnosis was read; the verification of the restart that was not done was assumed.
  expect(r.plan.steps.map((s) => [s.name, s.status])).toEqual([
    ['check-health', 'done'],
    ['check-logs', 'done'],
    ['restart', 'skipped'],
    ['verify', 'skipped'],
  ]);
  expect(r.done.map((a) => a.kind)).toEqual(['restart']);
}, 240_000);

test('P1-1 on an API answering 500s: the plan pages, would restart, assumes the error rate back down and ends resolved, as the real run does', async () => {
  const sb = await rig.sandbox('abk-dry-p11', { SELF_TRAFFIC_RPS: '10' });
  await sb.inject({ fault: 'error-rate', rate: 0.5 });
  await rig.prom.waitFor(errorRate(sb.name, '10s'), (v) => v > 0.2);
  const r = await dryRunThenReal(
    rig,
    watched,
    {
      runbook: 'P1-1',
      target: sb.name,
      trigger: { source: 'alert', alertName: 'HighErrorRate' },
      policy: { rateWindow: '10s', resolveWindowMs: 5_000, stopTimeoutSec: 2, ...fastSampling },
    },
    untilClosed,
  );
  expectPlanMatches(r);
  expect(r.planned.map((a) => a.kind)).toContain('restart');
  expect(r.plan.dryRun!.plan.at(-1)).toMatchObject({ kind: 'verify', inputs: { assumed: /^error rate < / } });
}, 300_000);

test('P0-3 on a reported charge: the plan notifies, would freeze billing, restart, refund, waits for the CEO (real code, marked as a rehearsal), would resume billing and restart, as the real run does; no refund, no switch flipped', async () => {
  const sb = await rig.sandbox('abk-dry-p03', { BILLING_KEY: billingKey });
  const r = await dryRunThenReal(
    rig,
    watched,
    {
      runbook: 'P0-3',
      target: sb.name,
      trigger: { source: 'manual', startedBy: 'oncall-test', description: 'customer charged twice' },
      extraInput: { charges: ['ch_dryrun1'], reportedBy: 'oncall-test' },
    },
    approveWithRealCodes('resume-billing', ['ceo']),
    approveWithRealCodes('resume-billing', ['ceo']),
  );
  expectPlanMatches(r);
  expect(r.planned.map((a) => a.kind)).toEqual([
    'notify',
    'billing-flag',
    'restart',
    'refund',
    'notify',
    'billing-flag',
    'restart',
  ]);
  const plan = r.plan.dryRun!.plan;
  expect(plan.find((a) => a.kind === 'billing-flag')?.inputs).toMatchObject({ enabled: false });
  expect(plan.find((a) => a.kind === 'refund')).toMatchObject({
    inputs: { charge: 'ch_dryrun1', idempotencyKey: `${r.plan.incidentId}/refund/ch_dryrun1` },
    guard: { wouldGrant: true },
  });
  expect(plan.filter((a) => a.kind === 'billing-flag').at(-1)?.inputs).toMatchObject({ enabled: true });
  expect(r.plan.dryRun!.end).toMatch(/resolved: billing resumed after approval by ceo \(CEO\)/);
  expectApprovedAsRehearsal(r.plan, 'resume-billing', ['ceo']);
}, 300_000);

/**
 * Gives a gate's approval with the real code each approver received (on their personal webhook, as
 * a person reads it), then waits for the run to end.
 */
function approveWithRealCodes(gate: string, approvers: string[]) {
  return async (h: WorkflowHandle) => {
    for (const approver of approvers)
      await h.signal(approvalSignal, {
        approver,
        decision: 'approve',
        reason: 'test: approve',
        code: await recordedCode(world, h, approver, gate),
      });
    await h.result();
  };
}

/**
 * The dry run's approval was given with a real code, and every message of it (the code by email and
 * by webhook, anything else sent) was marked as a rehearsal; the plan went on past it.
 */
function expectApprovedAsRehearsal(plan: IncidentState, gate: string, approvers: string[]): void {
  const record = plan.approvals?.find((g) => g.gate === gate);
  expect(record?.approvedBy.map((a) => a.approver).sort()).toEqual([...approvers].sort());
  expect(record?.codes.map((c) => c.approver)).toEqual(expect.arrayContaining(approvers));
  const hooks = world.personal.requests
    .map((q) => q.body as { incidentId?: string; rehearsal?: boolean; text?: string })
    .filter((b) => b.incidentId === plan.incidentId);
  expect(hooks.length).toBeGreaterThanOrEqual(approvers.length);
  for (const b of hooks) {
    expect(b.rehearsal).toBe(true);
    expect(b.text?.startsWith(REHEARSAL_MARK)).toBe(true);
  }
  const mails = world.mailbox.mails.filter((m) => `${m.subject}\n${m.text}`.includes(plan.incidentId));
  expect(mails.length).toBeGreaterThanOrEqual(approvers.length);
  for (const m of mails) expect(m.subject.startsWith(REHEARSAL_MARK)).toBe(true);
  const team = world.team.requests.filter((q) => JSON.stringify(q.body).includes(plan.incidentId));
  for (const q of team) expect(JSON.stringify(q.body)).toContain(REHEARSAL_MARK);
}

test('runbooks rehearse <past P0-1>: today (API healthy) the plan does nothing, and says the incident restarted then; on the same crash again it matches', async () => {
  assertCliBuilt(['client/cli/rehearse.ts', 'client/cli/trigger.ts', 'common/report/plan.ts']);
  const cli = cliOn(rig.taskQueue);
  const sb = await rig.sandbox('abk-dry-rehearse');
  await sb.inject({ fault: 'crash' });
  await exited(sb.name);
  const past = await rig.start('dev', {
    runbook: 'P0-1',
    target: sb.name,
    trigger: { source: 'alert', alertName: 'SystemUnreachable', values: { up: 0 } },
    workflowId: uniqueId('wf-P0-1-past'),
    policy: { verifyWindowMs: 8_000, verifyIntervalMs: 500 },
  });
  expect(((await past.result()) as IncidentState).status).toBe('resolved');

  // Today the API answers: the plan ends at the first check, before the restart done then.
  const healthy = await cli('--json', 'rehearse', past.workflowId);
  expect(healthy.stderr).toBe('');
  const h = healthy.json<{
    workflowId: string;
    plan: unknown[];
    done: { kind: string }[];
    differences: string[];
  }>();
  expect(h.done.map((d) => d.kind)).toEqual(['restart']);
  expect(h.plan).toEqual([]);
  expect(h.differences).toEqual([expect.stringMatching(/^1\+: then it went on to restart/)]);
  expect(h.workflowId).toMatch(/^dryrun-P0-1-/);
  const dry = rig.dev.workflow.getHandle(h.workflowId);
  const desc = await dry.describe();
  expect(desc.typedSearchAttributes.get(DryRunKey)).toBe('true');
  const state = (await dry.result()) as IncidentState;
  expect(state.dryRun?.rehearsalOf).toBe(past.workflowId);
  expect(state.incidentId).toMatch(/^DRYRUN-/);
  expect(state.followUp).toBeUndefined();

  // The same fault again: today's plan is what was done then.
  await sb.inject({ fault: 'crash' });
  await exited(sb.name);
  const again = await cli('rehearse', past.workflowId);
  expect(again.code).toBe(0);
  expect(again.stdout).toMatch(/1\. would restart\s+Restart container/);
  expect(again.stdout).toMatch(/guard: would grant/);
  expect(again.stdout).toMatch(/Differences: none/);

  // trigger --dry-run prints the same plan, and nothing was restarted by either.
  const trig = await cli('trigger', 'P0-1', '--target', sb.name, '--dry-run');
  expect(trig.code).toBe(0);
  console.log(`runbooks trigger P0-1 --dry-run printed:\n${trig.stdout}`); // the README's example
  expect(trig.stdout).toMatch(/^DRY RUN dryrun-P0-1-/);
  expect(trig.stdout).toMatch(/would verify\s+4\. Verify: health returns 200/);
  expect(trig.stdout).toMatch(/assumed=health returns 200/);
  expect(trig.stdout).toMatch(/Plan ends: the real run would end here, resolved: health 200 after restart 1/);
  expect(await sb.health()).toBeNull();
}, 300_000);

test('P0-2 on leaked idle connections: the plan would kill the idle sessions and restart, assumes the pool back down and ends resolved, as the real run does', async () => {
  const sb = await rig.sandbox('abk-dry-p02', { SELF_TRAFFIC_RPS: '2' });
  await sb.inject({ fault: 'leak-pool', count: 10 });
  await new Promise((r) => setTimeout(r, 2500)); // older than the idle threshold below
  const r = await dryRunThenReal(
    rig,
    watched,
    {
      runbook: 'P0-2',
      target: sb.name,
      trigger: { source: 'alert', alertName: 'DatabasePoolExhausted', values: { utilization: 1 } },
      policy: leakedPoolPolicy(sb.name),
    },
    async (h) => {
      await h.result();
    },
  );
  expectPlanMatches(r);
  expect(r.planned.map((a) => a.kind)).toEqual(['kill-sessions', 'restart']);
  expect(r.plan.dryRun!.plan.at(-1)).toMatchObject({ kind: 'verify', inputs: { assumed: /^pool < / } });
}, 300_000);

test('P1-2 on slow queries: the plan would cancel the slow queries, assumes p95 back down and ends resolved, as the real run does', async () => {
  const sb = await rig.sandbox('abk-dry-p12', { SELF_TRAFFIC_RPS: '3' });
  // Long sleeps, so the ones running now outlast both runs: the kill is what ends them.
  await sb.inject({ fault: 'slow-queries', seconds: 240 });
  await waitUntil('queries sleeping > 2 s', async () => {
    const { rowCount } = await admin.query(
      `SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND state = 'active'
          AND query LIKE '%pg_sleep%' AND clock_timestamp() - query_start > interval '2 seconds'`,
      [appName(sb.name)],
    );
    return (rowCount ?? 0) >= 3;
  });
  // The fault at its height first (p95 past the page line), so both runs see the same one.
  const p95 = DEFAULT_P95_QUERY.replaceAll('{{target}}', sb.name)
    .replaceAll('{{targetRegex}}', sb.name)
    .replaceAll('{{window}}', '15s');
  await rig.prom.waitFor(p95, (v) => v > 2.5);
  // The cause goes away (no new slow queries; those running go on until killed), as in the recorded
  // P1-2 scenario: the fix works, so the real run takes the success path the dry run plans. (While the
  // cause stays, the real run kills round after round and escalates: no plan can assume that.)
  await sb.clearFaults();
  const r = await dryRunThenReal(
    rig,
    watched,
    {
      runbook: 'P1-2',
      target: sb.name,
      trigger: { source: 'alert', alertName: 'HighLatency' },
      policy: slowQueriesPolicy(sb.name),
    },
    untilClosed,
  );
  expectPlanMatches(r);
  expect(r.planned.map((a) => a.kind)).toContain('kill-queries');
  expect(r.plan.dryRun!.plan.at(-1)).toMatchObject({ kind: 'verify', inputs: { assumed: /^p95 < / } });
}, 300_000);

test('P1-3 on a flooded queue: the plan scales, pauses, assumes the queue drained, resumes and scales down, as the real run does; no pause flag set', async () => {
  const key = uniqueId('dry-queue');
  const pauseKey = `test:${key}:paused`;
  const sb = await rig.sandbox('abk-dry-p13', {
    FORECAST_QUEUE_KEY: `test:${key}:queue`,
    FORECAST_PAUSE_KEY: pauseKey,
    SELF_TRAFFIC_RPS: '1',
    FORECAST_JOB_MS: '100',
    FORECAST_PRODUCE_RPS: '1',
  });
  await sb.inject({ fault: 'queue-flood', jobs: 700, ratePerSecond: 30 });
  await rig.prom.waitFor(`max(forecast_queue_depth{instance_name="${sb.name}"})`, (v) => v > 500);
  // The worker busy too (>= 80 %), so both runs scale at their first look, before pausing: the plan
  // cannot see a scale the real run makes later, on a utilization it measures while verifying.
  await rig.prom.waitFor(
    `avg(forecast_worker_utilization{instance_name=~"${sb.name}(-fw-[0-9]+)?"})`,
    (v) => v >= 0.85,
  );
  const r = await dryRunThenReal(
    rig,
    watched,
    {
      runbook: 'P1-3',
      target: sb.name,
      trigger: { source: 'alert', alertName: 'QueueOverflow' },
      policy: queueFloodPolicy(pauseKey),
    },
    untilClosed,
  );
  expectPlanMatches(r);
  expect(r.planned.map((a) => a.kind)).toEqual(
    expect.arrayContaining(['scale-up', 'pause-flag', 'scale-down']),
  );
  // The drained queue was assumed; the resume the runbook makes on it is planned after it.
  const plan = r.plan.dryRun!.plan;
  const verify = plan.findIndex((a) => a.kind === 'verify');
  expect(verify).toBeGreaterThan(0);
  expect(plan.slice(verify + 1).map((a) => a.action)).toEqual([
    expect.stringMatching(/^DEL /),
    expect.stringMatching(/^Remove forecast-worker replicas/),
  ]);
}, 300_000);

test('P0-4 on a reported violation: the plan holds (guard: would grant), would stop, notifies, waits for the CEO (real code, marked as a rehearsal), would start and release, as the real run does', async () => {
  const sb = await rig.sandbox('abk-dry-p04');
  const r = await dryRunThenReal(
    rig,
    watched,
    {
      runbook: 'P0-4',
      target: sb.name,
      trigger: { source: 'manual', startedBy: 'oncall-test', description: 'tenant A saw tenant B invoices' },
      extraInput: { violation: 'tenant A saw tenant B invoices' },
    },
    approveWithRealCodes('restart-after-integrity-stop', ['ceo']),
    approveWithRealCodes('restart-after-integrity-stop', ['ceo']),
  );
  expectPlanMatches(r);
  expect(r.plan.dryRun!.plan[0]).toMatchObject({ kind: 'hold', guard: { wouldGrant: true } });
  expect(r.planned.map((a) => a.kind)).toEqual(['stop', 'notify', 'start']);
  expect(r.plan.dryRun!.plan.map((a) => a.kind)).toEqual([
    'hold',
    'stop',
    'notify',
    'start',
    'release-hold',
    'verify',
  ]);
  // No copy of tenant data in a rehearsal: the dump is only said.
  expect(r.plan.steps.find((x) => x.name === 'pg-dump')?.status).toBe('skipped');
  expectApprovedAsRehearsal(r.plan, 'restart-after-integrity-stop', ['ceo']);
}, 300_000);
