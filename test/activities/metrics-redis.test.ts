/**
 * The Prometheus and Redis activities against the stack's real Prometheus and Redis: placeholders
 * scoped to the target, no data as null, an unreachable Prometheus and a rejected query classified;
 * the hit rate from INFO stats; the pause flag set and cleared.
 */
import { ApplicationFailure } from '@temporalio/common';
import { Redis } from 'ioredis';
import { createPrometheusActivities, renderQuery } from '../../activities/prometheus';
import { createRedisActivities, parseKeyspaceStats } from '../../activities/redis';
import { runActivity } from '../../rig/activity';
import { need, uniqueId } from '../../rig/env';
import { freePort } from '../../rig/sandbox';

let redis: Redis;
beforeAll(() => {
  redis = new Redis(need('REDIS_URL'), {
    lazyConnect: true,
    maxRetriesPerRequest: 1,
    enableOfflineQueue: false,
  });
});
afterAll(() => redis.disconnect());

test('placeholders are filled and escaped for the target', () => {
  expect(
    renderQuery({ query: 'up{instance_name="{{target}}"}[{{window}}]', target: 'a"b', window: '30s' }),
  ).toBe('up{instance_name="a\\"b"}[30s]');
  expect(renderQuery({ query: '{instance_name=~"{{targetRegex}}-fw-.*"}', target: 'api.v1' })).toBe(
    '{instance_name=~"api\\\\.v1-fw-.*"}',
  );
  expect(() => renderQuery({ query: '{{nope}}', target: 'x' })).toThrow(/Unknown placeholder \{\{nope\}\}/);
  expect(() => renderQuery({ query: 'x', target: 'x', window: '1 minute' })).toThrow(/Invalid PromQL range/);
});

test('an instant query of the stack’s Prometheus answers for the scraped API; no data is null', async () => {
  const prom = createPrometheusActivities({ prometheusUrl: need('PROMETHEUS_URL') });
  const target = need('ACCUBOOKS_API_CONTAINER');
  const ask = () =>
    prom.queryMetric({ name: 'pool max', query: 'max(db_pool_max{instance_name="{{target}}"})', target });
  // The stack's Prometheus scrapes every few seconds: right after the stack comes up, wait for the first.
  let up = await ask();
  for (let i = 0; i < 60 && up.value === null; i++) {
    await new Promise((r) => setTimeout(r, 500));
    up = await ask();
  }
  expect(up.value).toBeGreaterThan(0);
  expect(up.query).toBe(`max(db_pool_max{instance_name="${target}"})`);
  const none = await prom.queryMetric({
    name: 'none',
    query: 'max(db_pool_max{instance_name="{{target}}"})',
    target: uniqueId('nobody'),
  });
  expect(none.value).toBeNull();
  expect(none.series).toBe(0);
});

test('Prometheus unreachable is retryable DEPENDENCY_UNAVAILABLE; a bad query is non-retryable INVALID_INPUT', async () => {
  const down = createPrometheusActivities({ prometheusUrl: `http://127.0.0.1:${await freePort()}` });
  const err1 = await down
    .queryMetric({ name: 'error rate', query: 'up', target: 'x' })
    .catch((e: unknown) => e);
  expect(err1).toBeInstanceOf(ApplicationFailure);
  expect((err1 as ApplicationFailure).type).toBe('DEPENDENCY_UNAVAILABLE');
  expect((err1 as ApplicationFailure).nonRetryable).toBe(false);

  const prom = createPrometheusActivities({ prometheusUrl: need('PROMETHEUS_URL') });
  const err2 = await prom
    .queryMetric({ name: 'broken', query: 'sum(', target: 'x' })
    .catch((e: unknown) => e);
  expect((err2 as ApplicationFailure).type).toBe('INVALID_INPUT');
  expect((err2 as ApplicationFailure).nonRetryable).toBe(true);
});

test('Redis: PING, hit rate from INFO stats over an interval, and the pause flag set then cleared', async () => {
  const r = createRedisActivities({ redis });
  expect(await r.pingRedis({ timeoutMs: 2000 })).toMatchObject({ ok: true, reply: 'PONG' });

  const key = `test:${uniqueId('hit')}`;
  await redis.set(key, '1');
  const measuring = runActivity(r.redisHitRate, { sampleMs: 800 });
  await new Promise((res) => setTimeout(res, 100));
  for (let i = 0; i < 50; i++) await redis.get(key);
  const hit = await measuring;
  expect(hit.basis).toBe('interval');
  expect(hit.hits).toBeGreaterThanOrEqual(50);
  expect(hit.hitRate).toBeGreaterThan(0);
  expect(hit.hitRate).toBeLessThanOrEqual(1);
  await redis.del(key);

  const flag = `test:${uniqueId('paused')}`;
  expect(await r.setFlag({ key: flag, value: '1', reason: 'test' })).toEqual({ previous: null });
  expect(await r.setFlag({ key: flag, value: '1', reason: 'test' })).toEqual({ previous: '1' });
  expect(await redis.get(flag)).toBe('1');
  expect(await r.clearFlag({ key: flag, reason: 'test' })).toEqual({ existed: true });
  expect(await redis.get(flag)).toBeNull();
  await expect(r.setFlag({ key: 'bad key with spaces', value: '1', reason: 'test' })).rejects.toThrow(
    /Invalid Redis key/,
  );
});

test('INFO stats parsing', () => {
  expect(parseKeyspaceStats('# Stats\r\nkeyspace_hits:7\r\nkeyspace_misses:3\r\n')).toEqual({
    hits: 7,
    misses: 3,
  });
  expect(() => parseKeyspaceStats('# Stats\r\n')).toThrow(/keyspace_hits/);
});

test('a Redis that does not answer PING is a finding, not a crash', async () => {
  const dead = new Redis(`redis://127.0.0.1:${await freePort()}`, {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => null,
  });
  dead.on('error', () => undefined);
  try {
    const p = await createRedisActivities({ redis: dead }).pingRedis({ timeoutMs: 1000 });
    expect(p.ok).toBe(false);
    expect(p.error).toBeTruthy();
  } finally {
    dead.disconnect();
  }
});
