/** The post-incident follow-up: duties filed late, and owners from the worker's config. */
import { postIncident } from '../../workflows';
import {
  followUpStateQuery,
  postMortemFiledSignal,
  reportFiledSignal,
  runbookUpdateSignal,
} from '../../definitions/messages';
import type { IncidentState } from '../../definitions/types';
import { waitUntil } from '../sandbox';
import { HOUR, RECORDER_INCIDENT_OWNERS, type Scenario, type ScenarioContext } from './kit';

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

export const POST_INCIDENT_SCENARIOS: Scenario[] = [
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
];
