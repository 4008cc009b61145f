/**
 * The main paths of every runbook, as scenarios the recorder (scripts/record-histories.ts) runs on
 * the time-skipping server with real activities, saving each workflow's history as a JSON fixture
 * in test/fixtures/histories/. The replay test replays every fixture in that folder against the
 * current workflow code, so a change that would break a running incident fails the test command.
 *
 * To cover a new runbook path: add a scenario here (unique `name`, prefixed with the runbook ID),
 * then run `npm run build && node dist/scripts/record-histories.js <name-prefix>`.
 */
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { WorkflowHandle } from '@temporalio/client';
import type { Pool } from 'pg';
import { submitApproval } from '../client/approvals';
import { startIncident, type StartIncidentOptions } from '../client/incidents';
import { billingError, dataIntegrityViolation, postIncident, systemDown } from '../workflows';
import { approvalSignal } from '../definitions/approval';
import { targetLeaseWorkflowId } from '../definitions/target-guard';
import {
  followUpStateQuery,
  postMortemFiledSignal,
  reportFiledSignal,
  abandonSignal,
  resolveSignal,
  runbookUpdateSignal,
  stateQuery,
} from '../definitions/messages';
import type { IncidentState } from '../definitions/types';
import type { ApprovalWorld } from './approvals';
import type { TestPrometheus } from './prometheus';
import type { Sandbox } from './sandbox';
import { waitUntil } from './sandbox';

export interface ScenarioContext {
  env: TestWorkflowEnvironment;
  taskQueue: string;
  /** A private sandbox API container, healthy at the start of each scenario. */
  sandbox: Sandbox;
  /** A unique ID per scenario run. */
  id(prefix: string): string;
  /** A fresh sandbox container (removed at the end), known to the activities and scraped by `prom`. */
  newSandbox(prefix: string, env?: Record<string, string>): Promise<Sandbox>;
  /** A private Prometheus scraping the scenario sandboxes (P0-2, P1-x read their metrics from it). */
  prom: TestPrometheus;
  /** Approvers (CEO, CTO, Legal) with real mailboxes and webhooks: codes are read from there. */
  world: ApprovalWorld;
  /** The billing_config key the activities use (P0-3 sandboxes read the same key). */
  billingKey: string;
  /** Superuser pool on the application database (grants, pg_stat_activity). */
  admin: Pool;
}

export interface Scenario {
  /** The fixture's file name (without .json): runbook ID first, then the path. */
  name: string;
  /** The fixtures it writes, when more than its own (default: just `name`). */
  fixtures?: string[];
  /** Runs the path to where it should be recorded; returns the handles whose histories to save, by fixture name. */
  run(ctx: ScenarioContext): Promise<Record<string, WorkflowHandle>>;
}

const HOUR = 60 * 60_000;

/** The recorder's INCIDENT_OWNERS (worker config), which a follow-up without owners resolves. */
export const RECORDER_INCIDENT_OWNERS = ['owners@accubooks.test'];

/** A resolved P0-1 incident's state, as the incident hands it to its follow-up. */
const resolvedP01 = (ctx: ScenarioContext, at: string): IncidentState => ({
  incidentId: ctx.id('P0-1'),
  runbook: 'P0-1',
  title: 'P0-1 System down: accubooks-api',
  severity: 'P0',
  target: 'accubooks-api',
  status: 'resolved',
  currentStep: 'resolved',
  trigger: { source: 'manual', startedBy: 'recorder' },
  steps: [],
  checks: {},
  escalations: [],
  alerts: { firing: 1, resolved: 0 },
  mttr: {
    detectedAt: at,
    remediationStartedAt: at,
    resolvedAt: at,
    targetMs: 30 * 60_000,
    breached: false,
  },
  decisions: [],
  failing: {},
  outcome: 'health 200 after restart 1',
});

const p01Input = (ctx: ScenarioContext, policy: Record<string, unknown> = {}) => ({
  incidentId: ctx.id('P0-1'),
  target: ctx.sandbox.name,
  trigger: {
    source: 'alert' as const,
    alertName: 'SystemUnreachable',
    labels: { service: ctx.sandbox.name, severity: 'critical' },
    values: { up: 0 },
  },
  policy: { verifyWindowMs: 8_000, verifyIntervalMs: 500, ...policy },
});

/** Starts an incident through the client helper, as the intake and the CLI do. */
const start = (ctx: ScenarioContext, opts: Omit<StartIncidentOptions, 'client' | 'taskQueue'>) =>
  startIncident({ ...opts, client: ctx.env.client, taskQueue: ctx.taskQueue });

/**
 * Waits for the run to close by polling (queries and describe do not unlock time skipping, so the
 * runbook's sampling timers run in real time against real metrics), then returns its result.
 */
async function closed(handle: WorkflowHandle, timeoutMs = 120_000): Promise<IncidentState> {
  await waitUntil(
    `${handle.workflowId} to close`,
    async () => (await handle.describe()).status.name !== 'RUNNING',
    timeoutMs,
  );
  return (await handle.result()) as IncidentState;
}

const appName = (sandbox: string) => `accubooks-sandbox:${sandbox}`.slice(0, 63);

const errorRate = (name: string, window: string) =>
  `sum(rate(http_requests_total{instance_name="${name}",route!="/metrics",status=~"5.."}[${window}])) / sum(rate(http_requests_total{instance_name="${name}",route!="/metrics"}[${window}]))`;

const fastSampling = { sampleIntervalMs: 1_000, maxSampleIntervalMs: 2_000 };

async function waitForApproval(handle: WorkflowHandle, timeoutMs = 90_000): Promise<void> {
  await waitUntil(
    `${handle.workflowId} to wait for approval`,
    async () => !!(await handle.query(stateQuery)).waitingFor,
    timeoutMs,
  );
}

/** A wrong code (refused and recorded), then the CEO's code through the update path (accepted). */
/**
 * The CEO answers with a typo the moment the code arrives, while the workflow is still sending it
 * (the webhook has not answered yet): the attempt is judged once the code is known. Recorded so,
 * the history proves such a race replays (a reminder timer cancelled in the same workflow task
 * once made it unreplayable).
 */
function typoTheMomentTheCodeArrives(ctx: ScenarioContext, handle: WorkflowHandle): void {
  let sent = false;
  ctx.world.personal.onRequest = async (r) => {
    if (sent || r.path !== '/ceo' || (r.body as { workflowId?: string }).workflowId !== handle.workflowId)
      return;
    sent = true;
    const wrong = r.body.code === '000000' ? '111111' : '000000';
    await handle.signal(approvalSignal, {
      approver: 'ceo',
      decision: 'approve',
      reason: 'typo',
      code: wrong,
    });
  };
}

async function wrongThenRightCode(ctx: ScenarioContext, handle: WorkflowHandle): Promise<void> {
  const code = await ctx.world.waitForCode('ceo');
  await waitUntil(
    'the wrong code to be refused',
    async () => ((await handle.query(stateQuery)).approvals?.[0]?.attempts.length ?? 0) >= 1,
  );
  const answer = await submitApproval(handle, {
    approver: 'ceo',
    decision: 'approve',
    reason: 'checked; resume',
    code: ctx.world.latestCode('ceo') ?? code,
  });
  if (!answer.accepted) throw new Error(`the right code was refused: ${answer.message}`);
}

export const SCENARIOS: Scenario[] = [
  {
    name: 'P0-1-healthy-at-first-check',
    fixtures: ['P0-1-healthy-at-first-check', 'post-incident-after-hand-off'],
    async run(ctx) {
      const handle = await ctx.env.client.workflow.start(systemDown, {
        taskQueue: ctx.taskQueue,
        workflowId: ctx.id('P0-1-healthy'),
        args: [p01Input(ctx)],
      });
      const state = await handle.result();
      return {
        'P0-1-healthy-at-first-check': handle,
        // The follow-up as it stands right after the hand-off: draft sent, waiting for duties.
        'post-incident-after-hand-off': ctx.env.client.workflow.getHandle(state.followUp!.workflowId),
      };
    },
  },
  {
    name: 'P0-1-crash-restart-verified',
    async run(ctx) {
      await ctx.sandbox.inject({ fault: 'crash' });
      await waitUntil('container to exit', async () => (await ctx.sandbox.health()) === null);
      const handle = await ctx.env.client.workflow.start(systemDown, {
        taskQueue: ctx.taskQueue,
        workflowId: ctx.id('P0-1-crash'),
        args: [p01Input(ctx)],
      });
      await handle.result();
      return { 'P0-1-crash-restart-verified': handle };
    },
  },
  {
    name: 'P0-1-still-down-escalated-resolved-by-person',
    async run(ctx) {
      await ctx.sandbox.inject({ fault: 'fail-health', persist: true });
      const handle = await ctx.env.client.workflow.start(systemDown, {
        taskQueue: ctx.taskQueue,
        workflowId: ctx.id('P0-1-down'),
        args: [p01Input(ctx, { maxRestarts: 1 })],
      });
      await waitUntil(
        'the restart and failed verification',
        async () => {
          const s: IncidentState = await handle.query(stateQuery);
          return s.steps.some((step) => step.name === 'verify' && step.status !== 'running');
        },
        60_000,
      );
      await ctx.env.sleep('16 minutes');
      // A resolve is a claim the runbook checks (health 200): the host is fixed first.
      await ctx.sandbox.clearFaults();
      await handle.signal(resolveSignal, { by: 'dana (on-call)', reason: 'fixed the host by hand' });
      await handle.result();
      return { 'P0-1-still-down-escalated-resolved-by-person': handle };
    },
  },
  {
    name: 'post-incident-duties-filed-late',
    async run(ctx) {
      const at = new Date(await ctx.env.currentTimeMs()).toISOString();
      const handle = await ctx.env.client.workflow.start(postIncident, {
        taskQueue: ctx.taskQueue,
        workflowId: ctx.id('follow-up-late'),
        args: [
          {
            incidentWorkflowId: 'incident-P0-1-accubooks-api',
            incident: resolvedP01(ctx, at),
          },
        ],
      });
      await waitUntil(
        'the draft to be sent',
        async () => (await handle.query(followUpStateQuery)).status === 'open',
      );
      await ctx.env.sleep(49 * HOUR);
      await handle.signal(reportFiledSignal, { link: 'https://wiki.accubooks.test/ir/1', author: 'dana' });
      await handle.signal(postMortemFiledSignal, { link: 'https://wiki.accubooks.test/pm/1', author: 'lee' });
      await handle.signal(runbookUpdateSignal, { needed: false, note: 'worked as written', by: 'lee' });
      await handle.result();
      return { 'post-incident-duties-filed-late': handle };
    },
  },
  {
    // Owners from the worker's INCIDENT_OWNERS (an activity, behind the follow-up-owners-from-config patch).
    name: 'post-incident-owners-from-config',
    async run(ctx) {
      const at = new Date(await ctx.env.currentTimeMs()).toISOString();
      const handle = await ctx.env.client.workflow.start(postIncident, {
        taskQueue: ctx.taskQueue,
        workflowId: ctx.id('follow-up-owners'),
        args: [{ incidentWorkflowId: 'incident-P0-1-accubooks-api', incident: resolvedP01(ctx, at) }],
      });
      await waitUntil(
        'the draft to be sent',
        async () => (await handle.query(followUpStateQuery)).status === 'open',
      );
      const { owners } = await handle.query(followUpStateQuery);
      if (owners.join() !== RECORDER_INCIDENT_OWNERS.join()) throw new Error(`owners ${owners.join()}`);
      await handle.signal(reportFiledSignal, { link: 'https://wiki.accubooks.test/ir/2', author: 'dana' });
      await handle.signal(postMortemFiledSignal, { link: 'https://wiki.accubooks.test/pm/2', author: 'lee' });
      await handle.signal(runbookUpdateSignal, {
        needed: true,
        note: 'probe path',
        by: 'lee',
        link: 'https://git.accubooks.test/pr/2',
      });
      await handle.result();
      return { 'post-incident-owners-from-config': handle };
    },
  },
  {
    name: 'P0-2-idle-killed-restarted-verified',
    async run(ctx) {
      const sb = await ctx.newSandbox('abk-rec-p02', { SELF_TRAFFIC_RPS: '2' });
      await sb.inject({ fault: 'leak-pool', count: 10 });
      await new Promise((r) => setTimeout(r, 2500)); // older than the idle threshold below
      const handle = await start(ctx, {
        runbook: 'P0-2',
        target: sb.name,
        trigger: { source: 'alert', alertName: 'DatabasePoolExhausted', values: { utilization: 1 } },
        workflowId: ctx.id('P0-2'),
        policy: {
          applicationName: appName(sb.name),
          idleTerminateAfterMs: 2_000,
          resolveWindowMs: 3_000,
          stopTimeoutSec: 2,
          ...fastSampling,
        },
      });
      const state = await closed(handle);
      if (state.status !== 'resolved') throw new Error(`P0-2 ended ${state.status}`);
      return { 'P0-2-idle-killed-restarted-verified': handle };
    },
  },
  {
    name: 'P0-3-frozen-refunded-wrong-code-then-approved',
    async run(ctx) {
      await ctx.admin.query('GRANT SELECT, UPDATE ON billing_config TO runbook');
      const sb = await ctx.newSandbox('abk-rec-p03', { BILLING_KEY: ctx.billingKey });
      const handle = await ctx.env.client.workflow.start(billingError, {
        taskQueue: ctx.taskQueue,
        workflowId: ctx.id('P0-3'),
        args: [
          {
            incidentId: ctx.id('P0-3'),
            target: sb.name,
            trigger: { source: 'manual', startedBy: 'recorder', description: 'customer charged twice' },
            charges: ['ch_recfirst', 'pi_recsecond'],
            reportedBy: 'support@accubooks.test',
            policy: { verifyWindowMs: 30_000, verifyIntervalMs: 500 },
          },
        ],
      });
      typoTheMomentTheCodeArrives(ctx, handle);
      await waitForApproval(handle);
      await wrongThenRightCode(ctx, handle);
      ctx.world.personal.onRequest = undefined;
      const state = await closed(handle);
      if (state.status !== 'resolved') throw new Error(`P0-3 ended ${state.status}`);
      return { 'P0-3-frozen-refunded-wrong-code-then-approved': handle };
    },
  },
  {
    // One target, three histories: P0-4 holds it, a P0-1 on it is refused the restart (a person
    // closes it), the CEO's code (after a wrong one) releases the hold; the guard saw all of it.
    name: 'P0-4-held-wrong-code-then-approved',
    fixtures: [
      'P0-4-held-wrong-code-then-approved',
      'P0-1-restart-refused-target-held',
      'target-guard-hold-refused-restart-released',
    ],
    async run(ctx) {
      const sb = await ctx.newSandbox('abk-rec-p04');
      const p04 = await ctx.env.client.workflow.start(dataIntegrityViolation, {
        taskQueue: ctx.taskQueue,
        workflowId: ctx.id('P0-4'),
        args: [
          {
            incidentId: ctx.id('P0-4'),
            target: sb.name,
            trigger: {
              source: 'alert',
              alertName: 'CrossTenantLeakage',
              labels: { violation: 'cross-tenant leakage' },
            },
            policy: { verifyWindowMs: 20_000, verifyIntervalMs: 500 },
          },
        ],
      });
      typoTheMomentTheCodeArrives(ctx, p04);
      await waitForApproval(p04);
      const p01 = await ctx.env.client.workflow.start(systemDown, {
        taskQueue: ctx.taskQueue,
        workflowId: ctx.id('P0-1-held'),
        args: [
          {
            incidentId: ctx.id('P0-1'),
            target: sb.name,
            trigger: { source: 'alert', alertName: 'SystemUnreachable' },
            policy: { verifyWindowMs: 5_000, verifyIntervalMs: 500 },
          },
        ],
      });
      await waitUntil(
        'P0-1 to be refused the restart',
        async () => (await p01.query(stateQuery)).escalations.length > 0,
        60_000,
      );
      // The API is held stopped, so a resolve would be refused: an abandon the CTO confirms.
      await p01.signal(abandonSignal, { by: 'recorder', reason: 'held by P0-4; nothing to do here' });
      const cto = await ctx.world.waitForCode('cto');
      await p01.signal(abandonSignal, { by: 'cto', reason: 'confirmed', code: cto });
      await p01.result();
      await wrongThenRightCode(ctx, p04);
      ctx.world.personal.onRequest = undefined;
      const state = await closed(p04);
      if (state.status !== 'resolved') throw new Error(`P0-4 ended ${state.status}`);
      return {
        'P0-4-held-wrong-code-then-approved': p04,
        'P0-1-restart-refused-target-held': p01,
        'target-guard-hold-refused-restart-released': ctx.env.client.workflow.getHandle(
          targetLeaseWorkflowId(sb.name),
        ),
      };
    },
  },
  {
    name: 'P1-1-checked-restarted-verified',
    async run(ctx) {
      const sb = await ctx.newSandbox('abk-rec-p11', { SELF_TRAFFIC_RPS: '10' });
      await sb.inject({ fault: 'error-rate', rate: 0.5 });
      await ctx.prom.waitFor(errorRate(sb.name, '10s'), (v) => v > 0.2);
      const handle = await start(ctx, {
        runbook: 'P1-1',
        target: sb.name,
        trigger: { source: 'alert', alertName: 'HighErrorRate' },
        workflowId: ctx.id('P1-1'),
        policy: { rateWindow: '10s', resolveWindowMs: 5_000, stopTimeoutSec: 2, ...fastSampling },
      });
      const state = await closed(handle);
      if (state.status !== 'resolved') throw new Error(`P1-1 ended ${state.status}`);
      return { 'P1-1-checked-restarted-verified': handle };
    },
  },
  {
    name: 'P1-2-slow-queries-cancelled-verified',
    async run(ctx) {
      const sb = await ctx.newSandbox('abk-rec-p12', { SELF_TRAFFIC_RPS: '3' });
      await sb.inject({ fault: 'slow-queries', seconds: 30 });
      await waitUntil('queries sleeping > 2 s', async () => {
        const { rowCount } = await ctx.admin.query(
          `SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND state = 'active'
              AND query LIKE '%pg_sleep%' AND clock_timestamp() - query_start > interval '2 seconds'`,
          [appName(sb.name)],
        );
        return (rowCount ?? 0) >= 3;
      });
      const handle = await start(ctx, {
        runbook: 'P1-2',
        target: sb.name,
        trigger: { source: 'alert', alertName: 'HighLatency' },
        workflowId: ctx.id('P1-2'),
        policy: {
          applicationName: appName(sb.name),
          slowQueryMs: 2_000,
          rateWindow: '15s',
          resolveWindowMs: 5_000,
          cancelGraceMs: 3_000,
          maxKillRounds: 5,
          ...fastSampling,
        },
      });
      await waitUntil(
        'the slow queries to be cancelled',
        async () =>
          (await handle.query(stateQuery)).steps.some((x) => x.name === 'cancel-1' && x.status === 'done'),
        60_000,
      );
      await sb.clearFaults(); // the cause goes away: p95 comes back and the incident resolves
      const state = await closed(handle);
      if (state.status !== 'resolved') throw new Error(`P1-2 ended ${state.status}`);
      return { 'P1-2-slow-queries-cancelled-verified': handle };
    },
  },
  {
    name: 'P1-3-scaled-paused-drained-resumed',
    async run(ctx) {
      const key = ctx.id('rec-queue');
      const queueKey = `test:${key}:queue`;
      const pauseKey = `test:${key}:paused`;
      const sb = await ctx.newSandbox('abk-rec-p13', {
        FORECAST_QUEUE_KEY: queueKey,
        FORECAST_PAUSE_KEY: pauseKey,
        SELF_TRAFFIC_RPS: '1',
        FORECAST_JOB_MS: '100',
        FORECAST_PRODUCE_RPS: '1',
      });
      await sb.inject({ fault: 'queue-flood', jobs: 700, ratePerSecond: 30 });
      await ctx.prom.waitFor(`max(forecast_queue_depth{instance_name="${sb.name}"})`, (v) => v > 500);
      const handle = await start(ctx, {
        runbook: 'P1-3',
        target: sb.name,
        trigger: { source: 'alert', alertName: 'QueueOverflow' },
        workflowId: ctx.id('P1-3'),
        policy: {
          pauseKey,
          maxReplicas: 2,
          scaleStep: 2,
          rateWindow: '10s',
          resolveWindowMs: 4_000,
          replicaStopTimeoutSec: 1,
          ...fastSampling,
        },
      });
      const state = await closed(handle, 180_000);
      if (state.status !== 'resolved') throw new Error(`P1-3 ended ${state.status}`);
      return { 'P1-3-scaled-paused-drained-resumed': handle };
    },
  },
];
