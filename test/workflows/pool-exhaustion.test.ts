/**
 * P0-2 Database pool exhaustion against a real sandbox whose pool leaks connections: real
 * PostgreSQL (pg_stat_activity), real Docker restart, real pages. The real run is on the dev server
 * with a short idle threshold; the "remains > 80 %" rule is proven at its default (5 minutes) on the
 * time-skipping server.
 */
import { Pool } from 'pg';
import { stateQuery } from '../../definitions/messages';
import type { IncidentState } from '../../definitions/types';
import type { PoolExhaustionPolicy } from '../../definitions/policies/pool-exhaustion';
import { need, uniqueId } from '../../rig/env';
import { startRunbookRig, type RunbookRig } from '../../rig/runbook-rig';
import { waitUntil } from '../../rig/sandbox';

let rig: RunbookRig;
let admin: Pool;

beforeAll(async () => {
  rig = await startRunbookRig('p0-2');
  admin = new Pool({ connectionString: need('PG_ADMIN_URL'), max: 2 });
}, 120_000);

afterAll(async () => {
  await rig?.close();
  await admin?.end();
});

const appName = (sandbox: string) => `accubooks-sandbox:${sandbox}`.slice(0, 63);

async function idleSessions(sandbox: string): Promise<number[]> {
  const { rows } = await admin.query<{ pid: number }>(
    "SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND state = 'idle' ORDER BY pid",
    [appName(sandbox)],
  );
  return rows.map((r) => r.pid);
}

async function pool(url: string): Promise<{ utilization: number; inUse: number }> {
  const res = await fetch(`${url}/api/monitoring/pool-config`, { signal: AbortSignal.timeout(3000) });
  return (await res.json()) as { utilization: number; inUse: number };
}

test('leaked connections are terminated, the API restarted, and the pool verified below 70 %', async () => {
  const sb = await rig.sandbox('abk-p02', { SELF_TRAFFIC_RPS: '2' });
  await sb.inject({ fault: 'leak-pool', count: 10 });
  expect((await pool(sb.url)).utilization).toBe(1);
  const leaked = await idleSessions(sb.name);
  expect(leaked.length).toBeGreaterThanOrEqual(10);
  const startedBefore = await sb.startedAt();
  await new Promise((r) => setTimeout(r, 2500)); // older than the test's idle threshold

  const handle = await rig.start('dev', {
    runbook: 'P0-2',
    target: sb.name,
    trigger: { source: 'alert', alertName: 'DatabasePoolExhausted', values: { utilization: 1 } },
    workflowId: uniqueId('wf-p02-real'),
    policy: {
      applicationName: appName(sb.name),
      idleTerminateAfterMs: 2_000,
      resolveWindowMs: 3_000,
      sampleIntervalMs: 1_000,
      maxSampleIntervalMs: 2_000,
      stopTimeoutSec: 2,
    } satisfies Partial<PoolExhaustionPolicy>,
  });
  const state = (await handle.result()) as IncidentState;

  expect(state.status).toBe('resolved');
  expect(state.steps.map((s) => [s.name, s.status])).toEqual([
    ['check-pool', 'done'],
    ['kill-idle', 'done'],
    ['restart', 'done'],
    ['verify', 'done'],
  ]);
  const report = state.checks.report as {
    terminated: number;
    utilizationBefore: number;
    utilizationAfter: number;
  };
  expect(report.terminated).toBeGreaterThanOrEqual(10);
  expect(report.utilizationBefore).toBe(1);
  expect(report.utilizationAfter).toBeLessThan(0.7);
  const terminatedPids = (state.checks.terminatedSessions as { pid: number }[]).map((t) => t.pid);
  expect(terminatedPids).toEqual(expect.arrayContaining(leaked));
  expect(state.outcome).toMatch(/^Pool 100\.0% -> \d+\.\d%; \d+ idle sessions terminated; restarted$/);
  // The kill's scope is the configured role, and it matched the leaked sessions.
  expect(state.checks.killScope).toMatchObject({
    roles: ['accubooks'],
    result: expect.stringMatching(/^\d+ idle sessions terminated/),
  });
  expect((state.checks.killScope as { matchedSessions: number }).matchedSessions).toBeGreaterThanOrEqual(10);
  expect(state.escalations).toHaveLength(0);
  expect(state.mttr.breached).toBe(false);

  // The fix, in the real system: the leaked sessions are gone, the container restarted, the pool low.
  const now = await admin.query('SELECT pid FROM pg_stat_activity WHERE pid = ANY($1::int[])', [leaked]);
  expect(now.rowCount).toBe(0);
  expect(await sb.startedAt()).not.toBe(startedBefore);
  expect((await pool(sb.url)).utilization).toBeLessThan(0.7);
  expect(await sb.health()).toBe(200);
});

test('a pool that remains > 80 % after the restart escalates at 5 minutes (default), then resolves once it drops', async () => {
  const sb = await rig.sandbox('abk-p02-stuck', { SELF_TRAFFIC_RPS: '1' });
  // Persisted: the restarted API leaks again, so the pool stays exhausted after the restart.
  await sb.inject({ fault: 'leak-pool', count: 10, persist: true });
  const leaked = await idleSessions(sb.name);

  const handle = await rig.start('time-skipping', {
    runbook: 'P0-2',
    target: sb.name,
    trigger: { source: 'alert', alertName: 'DatabasePoolExhausted' },
    workflowId: uniqueId('wf-p02-stuck'),
    // Only the scope is narrowed (other tests share the database); every duration is the default.
    policy: { applicationName: appName(sb.name), stopTimeoutSec: 2 },
  });

  let s: IncidentState | undefined;
  await waitUntil(
    'verification to see the pool above 80 %',
    async () => {
      s = await handle.query(stateQuery);
      return typeof s.checks.aboveEscalationSince === 'string';
    },
    60_000,
  );
  // Default idle threshold is 5 minutes: the freshly leaked sessions were not terminated.
  expect(s!.checks.terminated).toBe(0);
  expect(leaked.length).toBeGreaterThanOrEqual(10);
  const aboveSince = Date.parse(s!.checks.aboveEscalationSince as string);

  await rig.env.sleep('270s');
  s = await handle.query(stateQuery);
  expect(s.escalations).toHaveLength(0);
  expect(s.checks.aboveEscalationSince).toBe(new Date(aboveSince).toISOString());

  await rig.env.sleep('60s');
  s = await handle.query(stateQuery);
  expect(s.escalations).toHaveLength(1);
  expect(s.status).toBe('escalated');
  expect(s.escalations[0].reason).toMatch(
    /Pool remains > 80\.0% \(100\.0%\) for 5 minutes after the restart/,
  );
  expect(s.escalations[0].tier).toBe('engineering lead (CTO)');
  expect(s.escalations[0].delivered.sort()).toEqual(['pagerduty', 'slack']);
  const after = Date.parse(s.escalations[0].at) - aboveSince;
  expect(after).toBeGreaterThanOrEqual(5 * 60_000);
  expect(after).toBeLessThan(5 * 60_000 + 30_000);

  // Escalation never stops remediation: once the leak is fixed, verification resolves it.
  await sb.clearFaults();
  const final = (await handle.result()) as IncidentState;
  expect(final.status).toBe('resolved');
  expect(final.escalations).toHaveLength(1);
  const report = final.checks.report as { utilizationBefore: number; utilizationAfter: number };
  expect(report.utilizationBefore).toBe(1);
  expect(report.utilizationAfter).toBeLessThan(0.7);
}, 300_000);
