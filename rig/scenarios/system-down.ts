/** P0-1 system down: healthy at the first check, a crash restarted, and still down after a restart. */
import { systemDown } from '../../workflows';
import { resolveSignal, stateQuery } from '../../definitions/messages';
import type { IncidentState } from '../../definitions/types';
import { waitUntil } from '../sandbox';
import type { Scenario, ScenarioContext } from './kit';

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

export const SYSTEM_DOWN_SCENARIOS: Scenario[] = [
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
];
