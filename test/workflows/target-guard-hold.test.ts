/**
 * The target guard's table against every runbook, on the dev server with the real stack: while a
 * real P0-4 holds the API stopped, P0-1, P0-2, P1-1, P1-2, P1-3 and P0-3 incidents on the same API
 * each try what they would do, and the real side effects are counted:
 *   - Docker engine `/events` for the API container and any replica cloned from it: none (no
 *     restart, start or replica create);
 *   - PostgreSQL: the application's idle session and slow query are still there (no kill);
 *   - what the table lets through while held (pause flag in Redis, billing flag, Stripe refund)
 *     did happen, so the test would notice the table silently blocking everything.
 * And the activities themselves: called without a grant, with a made-up one, with another
 * workflow's, or with an ended one, each refuses (ACTION_REFUSED) and touches nothing.
 */
import { Client as PgClient } from 'pg';
import { MockActivityEnvironment } from '@temporalio/testing';
import { ApplicationFailure } from '@temporalio/common';
import type { WorkflowHandle } from '@temporalio/client';
import { createActivities } from '../../activities';
import { stateQuery } from '../../definitions/messages';
import {
  TARGET_ACTION_RULES,
  targetLeaseStateQuery,
  targetLeaseWorkflowId,
  type TargetGrant,
} from '../../definitions/target-guard';
import type { IncidentState } from '../../definitions/types';
import { stripeFrom } from '../../worker/clients';
import { startApprovalWorld, type ApprovalWorld } from '../../rig/approvals';
import { need, uniqueId } from '../../rig/env';
import { startRunbookRig, type RunbookRig } from '../../rig/runbook-rig';
import { waitUntil, type Sandbox } from '../../rig/sandbox';
import { startStripeProxy, type StripeProxy } from '../../rig/stripe-proxy';

let rig: RunbookRig;
let world: ApprovalWorld;
let stripe: StripeProxy;
let admin: PgClient;
let sb: Sandbox;
let p04: WorkflowHandle;
let p04StartedAt: number;
const sessions: PgClient[] = [];
const billingKey = uniqueId('hold-billing').replace(/[^A-Za-z0-9_.:-]/g, '_');

beforeAll(async () => {
  [world, stripe] = await Promise.all([startApprovalWorld(), startStripeProxy(need('STRIPE_API_BASE'))]);
  rig = await startRunbookRig('guard-hold', {
    approvers: world.directory,
    billing: { key: billingKey },
    stripe: stripeFrom(need('STRIPE_API_KEY'), stripe.url),
    notify: { mailer: world.mailbox.transport(), mailFrom: 'runbooks@accubooks.test' },
  });
  const adminUrl = new URL(need('PG_ADMIN_URL'));
  adminUrl.pathname = '/accubooks';
  admin = new PgClient({ connectionString: adminUrl.toString() });
  await admin.connect();
  await admin.query('GRANT SELECT, UPDATE ON billing_config TO runbook');
  sb = await rig.sandbox('abk-hold', { BILLING_KEY: billingKey });
  p04StartedAt = Date.now();
  p04 = await rig.start('dev', {
    runbook: 'P0-4',
    target: sb.name,
    trigger: { source: 'manual', startedBy: 'test', description: 'cross-tenant leakage in invoices' },
    workflowId: uniqueId('wf-hold-p04'),
  });
  await waitUntil(
    'P0-4 to hold and stop the API',
    async () => {
      const s = await p04.query(stateQuery);
      return !!s.waitingFor && !(await sb.docker.getContainer(sb.name).inspect()).State.Running;
    },
    120_000,
  );
}, 240_000);

afterAll(async () => {
  await Promise.allSettled(sessions.map((s) => s.end()));
  await rig?.close();
  await Promise.allSettled([world?.close(), stripe?.close(), admin?.end()]);
}, 120_000);

/** A session of the application's role, as the API's would be (DATABASE_URL), with its own name. */
async function appSession(name: string): Promise<{ client: PgClient; pid: number }> {
  const client = new PgClient({ connectionString: need('DATABASE_URL'), application_name: name });
  client.on('error', () => undefined);
  await client.connect();
  sessions.push(client);
  const { rows } = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
  return { client, pid: rows[0].pid };
}

/** Every container event the engine recorded for the API and its replicas between two instants. */
async function containerEvents(since: number, until: number): Promise<string[]> {
  const stream = await sb.docker.getEvents({
    since: Math.floor(since / 1000),
    until: Math.ceil(until / 1000),
    filters: { type: ['container'] },
  });
  let raw = '';
  for await (const chunk of stream) raw += (chunk as Buffer).toString();
  type Event = { Action: string; timeNano: number; Actor: { Attributes: Record<string, string> } };
  return (
    raw
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Event)
      // The engine filters by whole seconds: P0-4's own stop can share the first one.
      .filter((e) => e.timeNano / 1e6 >= since)
      .filter(
        (e) => e.Actor.Attributes.name === sb.name || e.Actor.Attributes['accubooks.scaled-for'] === sb.name,
      )
      .map((e) => `${e.Action} ${e.Actor.Attributes.name}`)
  );
}

const stepOf = (s: IncidentState, name: string) => s.steps.find((x) => x.name === name);

test('while P0-4 holds the API, no runbook restarts, starts, scales or kills anything of it', async () => {
  const idleName = uniqueId('abk-hold-idle').slice(0, 60);
  const idle = await appSession(idleName);
  const slowName = uniqueId('abk-hold-slow').slice(0, 60);
  const slow = await appSession(slowName);
  const sleeping = slow.client.query('SELECT pg_sleep(600)').catch((err: Error) => err);
  const pauseKey = uniqueId('forecast:hold:paused');
  const since = Date.now();

  const start = (runbook: 'P0-1' | 'P0-2' | 'P1-1' | 'P1-2' | 'P1-3' | 'P0-3', policy = {}, extra = {}) =>
    rig.start('dev', {
      runbook,
      target: sb.name,
      trigger: { source: 'manual', startedBy: 'test', description: `${runbook} while held` },
      workflowId: uniqueId(`wf-hold-${runbook}`),
      policy,
      extraInput: extra,
    });
  const runs = {
    'P0-1': await start('P0-1'),
    'P0-2': await start('P0-2', { applicationName: idleName, idleTerminateAfterMs: 1 }),
    'P1-1': await start('P1-1', { errorRateQuery: 'vector(0.5)' }),
    'P1-2': await start('P1-2', { applicationName: slowName, slowQueryMs: 1_000, p95Query: 'vector(5)' }),
    'P1-3': await start('P1-3', {
      depthQuery: 'vector(600)',
      utilizationQuery: 'vector(0.95)',
      pauseKey,
    }),
    'P0-3': await start('P0-3', {}, { charges: ['ch_heldApiRefund'] }),
  };
  // Each runbook's blocked step, and what the guard was asked for there.
  const blocked: [keyof typeof runs, string, keyof typeof TARGET_ACTION_RULES][] = [
    ['P0-1', 'restart', 'restart'],
    ['P0-2', 'kill-idle', 'kill-sessions'],
    ['P0-2', 'restart', 'restart'],
    ['P1-1', 'restart', 'restart'],
    ['P1-2', 'cancel-1', 'kill-queries'],
    ['P1-3', 'scale-1', 'scale-up'],
    ['P0-3', 'restart', 'restart'],
  ];
  const p04Id = (await p04.query(stateQuery)).incidentId;
  for (const [runbook, step, kind] of blocked) {
    expect(TARGET_ACTION_RULES[kind].heldBlocks).toBe(true);
    await waitUntil(
      `${runbook} to be refused its ${step}`,
      async () => stepOf(await runs[runbook].query(stateQuery), step)?.status === 'skipped',
      120_000,
    );
    const s = await runs[runbook].query(stateQuery);
    expect(stepOf(s, step)?.result).toContain(`held by the P0-4 data integrity violation incident ${p04Id}`);
  }
  // What the table lets through while held did happen (a table that blocked everything would pass
  // the zero counts above too): P1-3 paused new jobs, P0-3 froze billing and refunded.
  await waitUntil('P1-3 to pause new jobs', async () => (await rig.clients.deps.redis.get(pauseKey)) === '1');
  await waitUntil('P0-3 to refund', () => Promise.resolve(stripe.refunds().length > 0), 60_000);
  const frozen = await admin.query<{ enabled: boolean }>(
    'SELECT enabled FROM billing_config WHERE key = $1',
    [billingKey],
  );
  expect(frozen.rows[0].enabled).toBe(false);
  expect(TARGET_ACTION_RULES['pause-flag'].heldBlocks).toBe(false);
  expect(TARGET_ACTION_RULES['billing-flag'].heldBlocks).toBe(false);
  expect(TARGET_ACTION_RULES.refund.heldBlocks).toBe(false);

  // The real side effects of the blocked actions: none.
  const until = Date.now();
  expect(await containerEvents(since, until)).toEqual([]);
  // The count sees real events: P0-4's own stop, before the other runbooks started.
  expect(await containerEvents(p04StartedAt, since)).toContain(`stop ${sb.name}`);
  const container = await sb.docker.getContainer(sb.name).inspect();
  expect(container.State.Running).toBe(false);
  const alive = await admin.query<{ pid: number; state: string }>(
    'SELECT pid, state FROM pg_stat_activity WHERE pid = ANY($1)',
    [[idle.pid, slow.pid]],
  );
  expect(alive.rows.find((r) => r.pid === idle.pid)?.state).toBe('idle');
  expect(alive.rows.find((r) => r.pid === slow.pid)?.state).toBe('active');
  const replicas = await sb.docker.listContainers({
    all: true,
    filters: { label: [`accubooks.scaled-for=${sb.name}`] },
  });
  expect(replicas).toEqual([]);
  const guard = await rig.dev.workflow.getHandle(targetLeaseWorkflowId(sb.name)).query(targetLeaseStateQuery);
  for (const kind of ['restart', 'kill-sessions', 'kill-queries', 'scale-up'])
    expect(guard.log.some((l) => l.includes(`REFUSED ${kind} `))).toBe(true);

  await admin.query('SELECT pg_cancel_backend($1)', [slow.pid]);
  expect(await sleeping).toBeInstanceOf(Error);
});

test('a mutating activity without a live grant of its own refuses and touches nothing', async () => {
  const acts = createActivities({ ...rig.clients.deps, memo: null });
  const guard = await rig.dev.workflow.getHandle(targetLeaseWorkflowId(sb.name)).query(targetLeaseStateQuery);
  // P0-4's own grant to stop the API (finished: it reported done).
  const stopGrant = guard.recent.find((a) => a.kind === 'stop' && a.requester.workflowId === p04.workflowId);
  expect(stopGrant?.finishedAt).toBeDefined();
  const input = { container: sb.name, decidedAt: new Date().toISOString(), reason: 'attack' };
  const as = (workflowId: string) =>
    new MockActivityEnvironment({ workflowExecution: { workflowId, runId: 'forged' } }, { client: rig.dev });
  const grant = (g: Partial<TargetGrant>): TargetGrant => ({
    requestId: stopGrant!.requestId,
    target: sb.name,
    kind: 'start',
    ...g,
  });
  const attempts: [string, () => Promise<unknown>, RegExp][] = [
    [
      'outside any activity',
      () => acts.startContainer({ ...input, grant: grant({}) }),
      /not run as an activity/,
    ],
    [
      'with no grant',
      () => as('attacker').run(acts.startContainer, { ...input } as never),
      /no grant from the target guard/,
    ],
    [
      'with a made-up grant',
      () => as('attacker').run(acts.startContainer, { ...input, grant: grant({ requestId: 'made-up' }) }),
      /never granted made-up/,
    ],
    [
      "with P0-4's stop grant as a start",
      () => as(p04.workflowId).run(acts.startContainer, { ...input, grant: grant({}) }),
      /granted stop, not start/,
    ],
    [
      "with P0-4's stop grant, from another workflow",
      () =>
        as('attacker').run(acts.stopContainer, {
          ...input,
          stopTimeoutSec: 1,
          grant: grant({ kind: 'stop' }),
        }),
      /belongs to workflow/,
    ],
    [
      "with P0-4's ended stop grant, as P0-4",
      () =>
        as(p04.workflowId).run(acts.stopContainer, {
          ...input,
          stopTimeoutSec: 1,
          grant: grant({ kind: 'stop' }),
        }),
      /the grant ended at/,
    ],
    [
      'a scale-up of the held API with a grant for another target',
      () =>
        as('attacker').run(acts.scaleWorkersUp, {
          target: sb.name,
          env: {},
          labels: {},
          healthTimeoutMs: 1_000,
          replicas: 1,
          reason: 'attack',
          grant: { requestId: 'x', target: 'elsewhere', kind: 'scale-up' as const },
        }),
      /the grant is for elsewhere/,
    ],
  ];
  const since = Date.now();
  for (const [what, attempt, why] of attempts) {
    const err = await attempt().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect({ what, type: (err as ApplicationFailure)?.type }).toEqual({ what, type: 'ACTION_REFUSED' });
    expect(err).toBeInstanceOf(ApplicationFailure);
    expect((err as ApplicationFailure).nonRetryable).toBe(true);
    expect((err as Error).message).toMatch(why);
  }
  expect(await containerEvents(since, Date.now())).toEqual([]);
  expect((await sb.docker.getContainer(sb.name).inspect()).State.Running).toBe(false);
});
