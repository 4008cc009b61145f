/** The P1 metric runbooks: P1-1 high error rate, P1-2 high latency, P1-3 queue overflow. */
import { stateQuery } from '../../definitions/messages';
import { waitUntil } from '../sandbox';
import {
  appName,
  closed,
  errorRate,
  fastSampling,
  queueFloodPolicy,
  slowQueriesPolicy,
  start,
  type Scenario,
} from './kit';

export const METRIC_RUNBOOK_SCENARIOS: Scenario[] = [
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
        policy: slowQueriesPolicy(sb.name),
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
        policy: queueFloodPolicy(pauseKey),
      });
      const state = await closed(handle, 180_000);
      if (state.status !== 'resolved') throw new Error(`P1-3 ended ${state.status}`);
      return { 'P1-3-scaled-paused-drained-resumed': handle };
    },
  },
];
