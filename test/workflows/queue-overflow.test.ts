/**
 * P1-3 Queue overflow against a real sandbox flooded with forecast jobs (its own Redis queue and
 * pause keys): depth and worker utilization from a real Prometheus, real forecast-worker replicas
 * started through Docker, the real pause flag honoured by the real producer. The real run is on the
 * dev server; "queue > 1000" and "growing rapidly" are proven at their defaults on the time-skipping
 * server.
 */
import { Redis } from 'ioredis';
import { stateQuery } from '../../definitions/messages';
import type { IncidentState } from '../../definitions/types';
import type { QueueOverflowPolicy } from '../../definitions/policies/queue-overflow';
import { queueFloodPolicy } from '../../rig/scenarios/kit';
import { need, uniqueId } from '../../rig/env';
import { startRunbookRig, type RunbookRig } from '../../rig/runbook-rig';
import { testDocker, waitUntil, type Sandbox } from '../../rig/sandbox';

let rig: RunbookRig;
let redis: Redis;
const docker = testDocker();

beforeAll(async () => {
  rig = await startRunbookRig('p1-3');
  redis = new Redis(need('REDIS_URL'));
}, 120_000);

afterAll(async () => {
  await rig?.close();
  redis?.disconnect();
}, 120_000);

async function queueSandbox(
  prefix: string,
  env: Record<string, string>,
): Promise<{ sb: Sandbox; queueKey: string; pauseKey: string }> {
  const id = uniqueId(prefix);
  const queueKey = `test:${id}:queue`;
  const pauseKey = `test:${id}:paused`;
  const sb = await rig.sandbox(prefix, {
    FORECAST_QUEUE_KEY: queueKey,
    FORECAST_PAUSE_KEY: pauseKey,
    SELF_TRAFFIC_RPS: '1',
    ...env,
  });
  return { sb, queueKey, pauseKey };
}

const replicasOf = async (target: string) =>
  (await docker.listContainers({ filters: { label: [`accubooks.scaled-for=${target}`] } })).map((c) =>
    c.Names[0].replace(/^\//, ''),
  );

test('a flooded queue gets worker replicas and paused jobs, drains, resumes, and scales back down', async () => {
  const { sb, queueKey, pauseKey } = await queueSandbox('abk-p13', {
    FORECAST_JOB_MS: '100',
    FORECAST_PRODUCE_RPS: '1',
  });
  await sb.inject({ fault: 'queue-flood', jobs: 700, ratePerSecond: 30 });
  await rig.prom.waitFor(`max(forecast_queue_depth{instance_name="${sb.name}"})`, (v) => v > 500);

  // Watch the real system while the runbook works: the flag and the replicas.
  const seen = { paused: false, replicas: new Set<string>() };
  const watcher = setInterval(() => {
    void redis.get(pauseKey).then(
      (v) => (seen.paused ||= v === '1'),
      () => undefined,
    );
    void replicasOf(sb.name).then(
      (r) => r.forEach((n) => seen.replicas.add(n)),
      () => undefined,
    );
  }, 200);
  try {
    const handle = await rig.start('dev', {
      runbook: 'P1-3',
      target: sb.name,
      trigger: { source: 'alert', alertName: 'QueueOverflow' },
      workflowId: uniqueId('wf-p13-real'),
      policy: queueFloodPolicy(pauseKey) satisfies Partial<QueueOverflowPolicy>,
    });
    await waitUntil('replicas running', async () => (await replicasOf(sb.name)).length === 2, 60_000);
    const running = await replicasOf(sb.name);
    expect(running.sort()).toEqual([`${sb.name}-fw-1`, `${sb.name}-fw-2`]);
    // The replicas really consume: they show up in Prometheus as forecast workers.
    await rig.prom.waitFor(
      `count(forecast_worker_utilization{instance_name=~"${sb.name}-fw-.*",role="forecast-worker"})`,
      (v) => v === 2,
    );

    const state = (await handle.result()) as IncidentState;
    expect(state.status).toBe('resolved');
    const names = state.steps.map((x) => x.name);
    expect(names.slice(0, 2)).toEqual(['check-queue', 'check-utilization']);
    expect(names).toEqual(
      expect.arrayContaining(['scale-1', 'pause-jobs', 'resume-jobs', 'verify', 'scale-down']),
    );
    expect(names.indexOf('pause-jobs')).toBeLessThan(names.indexOf('resume-jobs'));
    expect(state.decisions.join('\n')).toMatch(
      /Scale to 2 worker replicas: depth \d+ > 200 and worker utilization/,
    );
    expect(state.decisions.join('\n')).toMatch(/Pause new jobs: depth \d+ > 500/);
    expect(state.decisions.join('\n')).toMatch(/Resume new jobs: depth \d+ < 200/);
    expect(state.checks.jobsPaused).toBe(false);
    expect(state.checks.queueDepth).toBeLessThanOrEqual(200);
    expect(state.outcome).toMatch(/2 replicas were started; 2 replicas removed$/);

    // The fix, in the real system: the flag was set and is cleared; the replicas ran and are gone.
    expect(seen.paused).toBe(true);
    expect(await redis.get(pauseKey)).toBeNull();
    expect([...seen.replicas].sort()).toEqual([`${sb.name}-fw-1`, `${sb.name}-fw-2`]);
    expect(await replicasOf(sb.name)).toEqual([]);
    expect(await redis.llen(queueKey)).toBeLessThanOrEqual(200);
  } finally {
    clearInterval(watcher);
    await redis.del(queueKey, pauseKey);
  }
}, 180_000);

test('a queue > 1000 pages at once (default threshold) and new jobs are paused', async () => {
  // Consumers stalled (one job a minute), no steady production: the flood stays.
  const { sb, queueKey, pauseKey } = await queueSandbox('abk-p13-deep', {
    FORECAST_JOB_MS: '60000',
    FORECAST_PRODUCE_RPS: '0',
  });
  try {
    await sb.inject({ fault: 'queue-flood', jobs: 1500 });
    await rig.prom.waitFor(`max(forecast_queue_depth{instance_name="${sb.name}"})`, (v) => v > 1400);
    const handle = await rig.start('time-skipping', {
      runbook: 'P1-3',
      target: sb.name,
      trigger: { source: 'alert', alertName: 'QueueOverflow' },
      workflowId: uniqueId('wf-p13-deep'),
      // Scaling is shown by the real run; here only the rules, with every threshold at its default.
      policy: { pauseKey, maxReplicas: 0 },
    });
    let s: IncidentState | undefined;
    await waitUntil(
      'the depth page',
      async () => {
        s = await handle.query(stateQuery);
        return s.escalations.length >= 1 && s.checks.jobsPaused === true;
      },
      60_000,
    );
    expect(s!.escalations[0].reason).toMatch(/^Queue depth 1[45]\d\d > 1000$/);
    expect(s!.escalations[0].delivered.sort()).toEqual(['pagerduty', 'slack']);
    expect(await redis.get(pauseKey)).toBe('1');
    // A second sample over 1000 does not page again.
    await rig.env.sleep('1m');
    s = await handle.query(stateQuery);
    expect(s.escalations).toHaveLength(1);
  } finally {
    await redis.del(queueKey, pauseKey);
  }
}, 180_000);

test('a queue growing rapidly (4 rising samples, >= 100 jobs/min) pages before it reaches 1000', async () => {
  const { sb, queueKey, pauseKey } = await queueSandbox('abk-p13-grow', {
    FORECAST_JOB_MS: '60000',
    FORECAST_PRODUCE_RPS: '0',
  });
  try {
    await sb.inject({ fault: 'queue-flood', jobs: 250, ratePerSecond: 25 });
    await rig.prom.waitFor(`max(forecast_queue_depth{instance_name="${sb.name}"})`, (v) => v >= 250);
    const handle = await rig.start('time-skipping', {
      runbook: 'P1-3',
      target: sb.name,
      trigger: { source: 'alert', alertName: 'QueueOverflow' },
      workflowId: uniqueId('wf-p13-grow'),
      policy: { pauseKey, maxReplicas: 0 },
    });
    let s: IncidentState | undefined;
    const samples = async () =>
      ((await handle.query(stateQuery)).checks.growth as { samples: number[] } | undefined)?.samples ?? [];
    await waitUntil(
      'the first verification sample',
      async () => {
        s = await handle.query(stateQuery);
        return s.steps.some((x) => x.name === 'verify');
      },
      60_000,
    );
    // Each round: the real queue grows for 3 s (about 75 jobs), then 30 s of workflow time pass (the
    // default interval). Samples are taken inside the watch activity, one per attempt, and reach the
    // workflow only when a rule's condition changes: the next sample is the next attempt.
    const progress = async () => {
      const d = await handle.describe();
      const watch = d.raw.pendingActivities?.find((a) => a.activityType?.name === 'watchSamples');
      return `${(await samples()).join(',')}/${watch?.activityId ?? ''}#${watch?.attempt ?? 0}`;
    };
    for (let i = 0; i < 6 && (await handle.query(stateQuery)).escalations.length === 0; i++) {
      await new Promise((r) => setTimeout(r, 3000));
      const n = await progress();
      await rig.env.sleep('30s');
      await waitUntil('the next sample', async () => (await progress()) !== n, 30_000);
    }
    s = await handle.query(stateQuery);
    expect(s.escalations).toHaveLength(1);
    expect(s.escalations[0].reason).toMatch(
      /^Queue growing rapidly: \+\d+ jobs\/min over the last 4 samples \(>= 100\/min\), now \d+$/,
    );
    const g = s.checks.growth as { slopePerMinute: number; rising: boolean; samples: number[] };
    expect(g.rising).toBe(true);
    expect(g.samples).toHaveLength(4);
    expect(g.slopePerMinute).toBeGreaterThanOrEqual(100);
    expect(Math.max(...g.samples)).toBeLessThanOrEqual(1000);
  } finally {
    await redis.del(queueKey, pauseKey);
  }
}, 240_000);
