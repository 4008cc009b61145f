/** P0-2 pool exhaustion: leaked idle connections killed, the API restarted and verified. */
import { closed, leakedPoolPolicy, start, type Scenario } from './kit';

export const POOL_EXHAUSTION_SCENARIOS: Scenario[] = [
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
        policy: leakedPoolPolicy(sb.name),
      });
      const state = await closed(handle);
      if (state.status !== 'resolved') throw new Error(`P0-2 ended ${state.status}`);
      return { 'P0-2-idle-killed-restarted-verified': handle };
    },
  },
];
