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
import { postIncident, systemDown } from '../../workflows';
import {
  followUpStateQuery,
  postMortemFiledSignal,
  reportFiledSignal,
  resolveSignal,
  runbookUpdateSignal,
  stateQuery,
} from '../../workflows/definitions';
import type { IncidentState } from '../../workflows/types';
import type { Sandbox } from '../helpers/sandbox';
import { waitUntil } from '../helpers/sandbox';

export interface ScenarioContext {
  env: TestWorkflowEnvironment;
  taskQueue: string;
  /** A private sandbox API container, healthy at the start of each scenario. */
  sandbox: Sandbox;
  /** A unique ID per scenario run. */
  id(prefix: string): string;
}

export interface Scenario {
  /** The fixture's file name (without .json): runbook ID first, then the path. */
  name: string;
  /** Runs the path to where it should be recorded; returns the handles whose histories to save, by fixture name. */
  run(ctx: ScenarioContext): Promise<Record<string, WorkflowHandle>>;
}

const HOUR = 60 * 60_000;

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

export const SCENARIOS: Scenario[] = [
  {
    name: 'P0-1-healthy-at-first-check',
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
      await handle.signal(resolveSignal, { by: 'dana (on-call)', reason: 'fixed the host by hand' });
      await handle.result();
      await ctx.sandbox.clearFaults();
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
            incident: {
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
            },
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
];
