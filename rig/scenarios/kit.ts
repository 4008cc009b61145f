/**
 * What every recorder scenario is given and returns (rig/replay-scenarios.ts lists them), and the
 * small steps several runbooks' scenarios share: starting an incident, waiting for it to close or
 * to wait for an approval, and the sandbox names and queries the metric runbooks use.
 */
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Client, WorkflowHandle } from '@temporalio/client';
import type { Pool } from 'pg';
import { startIncident, type StartIncidentOptions } from '../../client/incidents';
import { stateQuery } from '../../definitions/messages';
import type { IncidentState } from '../../definitions/types';
import { systemDown } from '../../workflows';
import type { ApprovalWorld } from '../approvals';
import type { TestPrometheus } from '../prometheus';
import type { Sandbox } from '../sandbox';
import { waitUntil } from '../sandbox';

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

export const HOUR = 60 * 60_000;

/** The recorder's INCIDENT_OWNERS (worker config), which a follow-up without owners resolves. */
export const RECORDER_INCIDENT_OWNERS = ['owners@accubooks.test'];

/** Starts an incident through the client helper, as the intake and the CLI do. */
export const start = (ctx: ScenarioContext, opts: Omit<StartIncidentOptions, 'client' | 'taskQueue'>) =>
  startIncident({ ...opts, client: ctx.env.client, taskQueue: ctx.taskQueue });

/**
 * Waits for the run to close by polling (queries and describe do not unlock time skipping, so the
 * runbook's sampling timers run in real time against real metrics), then returns its result.
 */
export async function closed(handle: WorkflowHandle, timeoutMs = 120_000): Promise<IncidentState> {
  await waitUntil(
    `${handle.workflowId} to close`,
    async () => (await handle.describe()).status.name !== 'RUNNING',
    timeoutMs,
  );
  return (await handle.result()) as IncidentState;
}

export const appName = (sandbox: string) => `accubooks-sandbox:${sandbox}`.slice(0, 63);

export const errorRate = (name: string, window: string) =>
  `sum(rate(http_requests_total{instance_name="${name}",route!="/metrics",status=~"5.."}[${window}])) / sum(rate(http_requests_total{instance_name="${name}",route!="/metrics"}[${window}]))`;

export const fastSampling = { sampleIntervalMs: 1_000, maxSampleIntervalMs: 2_000 };

export async function waitForApproval(handle: WorkflowHandle, timeoutMs = 90_000): Promise<void> {
  await waitUntil(
    `${handle.workflowId} to wait for approval`,
    async () => !!(await handle.query(stateQuery)).waitingFor,
    timeoutMs,
  );
}

/**
 * A P0-1 on a target another incident holds stopped: started, and returned once the guard refused
 * its restart (it escalates instead).
 */
export async function startP01OnHeldTarget(
  client: Client,
  taskQueue: string,
  ids: { workflowId: string; incidentId: string },
  target: string,
): Promise<WorkflowHandle<typeof systemDown>> {
  const p01 = await client.workflow.start(systemDown, {
    taskQueue,
    workflowId: ids.workflowId,
    args: [
      {
        incidentId: ids.incidentId,
        target,
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
  return p01;
}

/** P0-2 on a sandbox's leaked idle connections (older than 2 s), compressed to seconds. */
export const leakedPoolPolicy = (sandbox: string) => ({
  applicationName: appName(sandbox),
  idleTerminateAfterMs: 2_000,
  resolveWindowMs: 3_000,
  stopTimeoutSec: 2,
  ...fastSampling,
});

/** P1-2 on a sandbox's real slow queries (pg_sleep), compressed to seconds. */
export const slowQueriesPolicy = (sandbox: string) => ({
  applicationName: appName(sandbox),
  slowQueryMs: 2_000,
  rateWindow: '15s',
  resolveWindowMs: 5_000,
  cancelGraceMs: 3_000,
  maxKillRounds: 5,
  ...fastSampling,
});

/** P1-3 on a sandbox's real queue flood (`pauseKey`: its producer's pause flag), compressed to seconds. */
export const queueFloodPolicy = (pauseKey: string) => ({
  pauseKey,
  maxReplicas: 2,
  scaleStep: 2,
  rateWindow: '10s',
  resolveWindowMs: 4_000,
  replicaStopTimeoutSec: 1,
  ...fastSampling,
});
