/**
 * Dry runs against the real stack, one runbook at a time, each on the fault its real-run scenario
 * uses (rig/scenarios/): the plan (workflows/dry-run.ts) lists the actions the real run then takes
 * on the same fault, in the same order, each with the target guard's answer, and the dry run
 * changes nothing (Docker /events, PostgreSQL, Redis, the Stripe proxy).
 */
import { Client as PgClient } from 'pg';
import Redis from 'ioredis';
import { startRunbookRig, type RunbookRig } from '../../rig/runbook-rig';
import { startApprovalWorld, type ApprovalWorld } from '../../rig/approvals';
import { startStripeProxy, type StripeProxy } from '../../rig/stripe-proxy';
import { stripeFrom } from '../../worker/clients';
import { need, uniqueId } from '../../rig/env';
import { testDocker, waitUntil } from '../../rig/sandbox';
import { stateQuery } from '../../definitions/messages';
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
import { actionsOfHistory } from '../../common/report/plan';
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

test('P0-1 on a crashed API: the plan is "would restart" (guard: would grant), as the real run restarts', async () => {
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
  expect(r.plan.dryRun!.end).toMatch(/restart/);
  expect(r.plan.steps.map((s) => [s.name, s.status])).toEqual([
    ['check-health', 'done'],
    ['check-logs', 'done'],
    ['restart', 'skipped'],
  ]);
  expect(r.done.map((a) => a.kind)).toEqual(['restart']);
  expect(((await r.real.result()) as IncidentState).status).toBe('resolved');
}, 240_000);

test('P1-1 on an API answering 500s: the plan pages and would restart, as the real run does', async () => {
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
  expect(r.planned[r.planned.length - 1].kind).toBe('restart');
}, 300_000);

test('P0-3 on a reported charge: the plan notifies and would freeze billing, as the real run does; no refund, no switch flipped', async () => {
  const sb = await rig.sandbox('abk-dry-p03', { BILLING_KEY: billingKey });
  const r = await dryRunThenReal(
    rig,
    watched,
    {
      runbook: 'P0-3',
      target: sb.name,
      trigger: { source: 'manual', startedBy: 'oncall-test', description: 'customer charged twice' },
      extraInput: { charges: ['ch_dryrun_1'], reportedBy: 'oncall-test' },
    },
    async (h) => {
      // Far enough to compare: the real run froze billing, restarted, refunded and now waits for the CEO.
      await waitUntil(
        'the real P0-3 to wait for the resume approval',
        async () => !!(await h.query(stateQuery)).waitingFor,
        120_000,
      );
      await h.terminate('test: compared');
    },
  );
  expectPlanMatches(r);
  expect(r.planned.map((a) => a.kind)).toEqual(['notify', 'billing-flag']);
  expect(r.plan.dryRun!.plan[1].inputs).toMatchObject({ enabled: false });
}, 300_000);

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
  expect(trig.stdout).toMatch(/^DRY RUN dryrun-P0-1-/);
  expect(trig.stdout).toMatch(/Plan ends: the next step depends on/);
  expect(await sb.health()).toBeNull();
}, 300_000);

/** The real run as far as the comparison needs: until `step` is done, then ended (a test's run). */
const untilStepDone = (step: RegExp) => async (h: WorkflowHandle) => {
  await waitUntil(
    `the real run's ${String(step)} step`,
    async () => (await h.query(stateQuery)).steps.some((x) => step.test(x.name) && x.status === 'done'),
    120_000,
  );
  await h.terminate('test: compared');
};

test('P0-2 on leaked idle connections: the plan ends at "would kill the idle sessions", as the real run kills them', async () => {
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
  expect(r.planned[r.planned.length - 1].kind).toBe('kill-sessions');
}, 300_000);

test('P1-2 on slow queries: the plan ends at "would cancel the slow queries", as the real run cancels them', async () => {
  const sb = await rig.sandbox('abk-dry-p12', { SELF_TRAFFIC_RPS: '3' });
  await sb.inject({ fault: 'slow-queries', seconds: 30 });
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
  const r = await dryRunThenReal(
    rig,
    watched,
    {
      runbook: 'P1-2',
      target: sb.name,
      trigger: { source: 'alert', alertName: 'HighLatency' },
      policy: slowQueriesPolicy(sb.name),
    },
    untilStepDone(/^cancel-/),
  );
  expectPlanMatches(r);
  expect(r.planned[r.planned.length - 1].kind).toBe('kill-queries');
}, 300_000);

test('P1-3 on a flooded queue: the plan ends at its first queue action, as the real run takes it; no pause flag set', async () => {
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
  const r = await dryRunThenReal(
    rig,
    watched,
    {
      runbook: 'P1-3',
      target: sb.name,
      trigger: { source: 'alert', alertName: 'QueueOverflow' },
      policy: queueFloodPolicy(pauseKey),
    },
    async (h) => {
      await waitUntil(
        'the real run to act',
        async () => {
          const done = await h.fetchHistory();
          return actionsOfHistory(done).some((a) => a.kind !== 'page' && a.kind !== 'notify');
        },
        120_000,
      );
      await h.terminate('test: compared');
    },
  );
  expectPlanMatches(r);
  expect(['pause-flag', 'scale-up']).toContain(r.planned[r.planned.length - 1].kind);
}, 300_000);

test('P0-4 on a reported violation: the plan holds (guard: would grant) and ends at "would stop", as the real run stops the API', async () => {
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
    untilStepDone(/^stop/),
  );
  expectPlanMatches(r);
  expect(r.plan.dryRun!.plan[0]).toMatchObject({ kind: 'hold', guard: { wouldGrant: true } });
  expect(r.planned[r.planned.length - 1].kind).toBe('stop');
}, 300_000);
