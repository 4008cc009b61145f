/** The config module: every missing or invalid variable named at once; secrets never printed. */
import { ConfigError } from '../../config/errors';
import { describeConfig, loadWorkerConfig } from '../../config/worker';
import { loadTemporalConfig } from '../../config/temporal';
import { maskUrl } from '../../config/fields';
import { secretsOf } from '../../config/secrets';
import { DEFAULT_REFUND_CAPS } from '../../definitions/charges';
import { mainThreadSemiSpaceMissing, semiSpaceNodeArgs } from '../../worker/memory';

const valid = {
  RUNBOOK_DATABASE_URL: 'postgres://runbook:s3cretpw@127.0.0.1:5432/accubooks',
  REDIS_URL: 'redis://127.0.0.1:6379',
  STRIPE_API_KEY: 'sk_test_abc123',
  ACCUBOOKS_API_URL: 'http://127.0.0.1:8080',
  PAGERDUTY_ROUTING_KEY: 'pd-routing-secret',
};

test('a complete environment loads with local defaults', () => {
  const c = loadWorkerConfig(valid);
  expect(c.temporal).toMatchObject({
    address: '127.0.0.1:7233',
    namespace: 'default',
    taskQueue: 'accubooks-runbooks',
  });
  expect(c.accubooks.container).toBe('accubooks-api');
  expect(c.docker.host).toBe('unix:///var/run/docker.sock');
  expect(c.temporal.tls).toBeUndefined();
});

test("ACCUBOOKS_DB_ROLES: the application's database roles, default accubooks, invalid names rejected", () => {
  expect(loadWorkerConfig(valid).accubooks.dbRoles).toEqual(['accubooks']);
  expect(loadWorkerConfig({ ...valid, ACCUBOOKS_DB_ROLES: 'app_rw, app_batch' }).accubooks.dbRoles).toEqual([
    'app_rw',
    'app_batch',
  ]);
  for (const bad of ['accubooks;drop', ',', 'a b']) {
    expect(() => loadWorkerConfig({ ...valid, ACCUBOOKS_DB_ROLES: bad })).toThrow(
      /ACCUBOOKS_DB_ROLES must be comma-separated PostgreSQL role names/,
    );
  }
});

test('REFUND_CAP_*: the P0-3 refund caps, with sane defaults; a bad value is named', () => {
  expect(loadWorkerConfig(valid).refundCaps).toEqual(DEFAULT_REFUND_CAPS);
  expect(DEFAULT_REFUND_CAPS).toEqual({ perCharge: 50_000, perIncidentTotal: 200_000, perIncidentCount: 10 });
  expect(
    loadWorkerConfig({
      ...valid,
      REFUND_CAP_PER_CHARGE: '1000',
      REFUND_CAP_PER_INCIDENT: '5000',
      REFUND_CAP_COUNT_PER_INCIDENT: '0',
    }).refundCaps,
  ).toEqual({ perCharge: 1000, perIncidentTotal: 5000, perIncidentCount: 0 });
  expect(() =>
    loadWorkerConfig({ ...valid, REFUND_CAP_PER_CHARGE: '12.5', REFUND_CAP_PER_INCIDENT: '-1' }),
  ).toThrow(
    /REFUND_CAP_PER_CHARGE must be a whole number[\s\S]*REFUND_CAP_PER_INCIDENT must be 0 \(every refund needs approval\) or more/,
  );
  expect(() => loadWorkerConfig({ ...valid, REFUND_CAP_COUNT_PER_INCIDENT: 'lots' })).toThrow(
    /REFUND_CAP_COUNT_PER_INCIDENT must be a whole number/,
  );
  expect(describeConfig(loadWorkerConfig(valid)).refundCaps).toEqual(DEFAULT_REFUND_CAPS);
});

test('WORKER_V8_SEMI_SPACE_MB and WORKER_MAX_CACHED_WORKFLOWS: the memory settings, defaults 2 MB and the SDK cache', () => {
  expect(loadWorkerConfig(valid).memory).toEqual({ semiSpaceMb: 2, maxCachedWorkflows: undefined });
  expect(
    loadWorkerConfig({ ...valid, WORKER_V8_SEMI_SPACE_MB: '0', WORKER_MAX_CACHED_WORKFLOWS: '600' }).memory,
  ).toEqual({ semiSpaceMb: 0, maxCachedWorkflows: 600 });
  expect(() => loadWorkerConfig({ ...valid, WORKER_V8_SEMI_SPACE_MB: '128' })).toThrow(
    /WORKER_V8_SEMI_SPACE_MB must be 0 \(Node default\) or 1 to 64/,
  );
  expect(() => loadWorkerConfig({ ...valid, WORKER_MAX_CACHED_WORKFLOWS: '1' })).toThrow(
    /WORKER_MAX_CACHED_WORKFLOWS must be 2 or more/,
  );
  expect(() => loadWorkerConfig({ ...valid, WORKER_MAX_CACHED_WORKFLOWS: 'many' })).toThrow(
    /WORKER_MAX_CACHED_WORKFLOWS must be a whole number/,
  );
});

test("the main thread gets the same young generation from node's command line, or the worker says it did not", () => {
  expect(semiSpaceNodeArgs({})).toEqual(['--max-semi-space-size=2']);
  expect(semiSpaceNodeArgs({ WORKER_V8_SEMI_SPACE_MB: '8' })).toEqual(['--max-semi-space-size=8']);
  expect(semiSpaceNodeArgs({ WORKER_V8_SEMI_SPACE_MB: '0' })).toEqual([]);
  // Not valid: no argument; the worker itself refuses the value, naming it.
  expect(semiSpaceNodeArgs({ WORKER_V8_SEMI_SPACE_MB: 'lots' })).toEqual([]);
  const two = { semiSpaceMb: 2 };
  expect(mainThreadSemiSpaceMissing(two, ['--max-semi-space-size=2'], '')).toBeUndefined();
  expect(mainThreadSemiSpaceMissing(two, [], '--max-semi-space-size=2 --enable-source-maps')).toBeUndefined();
  expect(mainThreadSemiSpaceMissing({ semiSpaceMb: 0 }, [], '')).toBeUndefined();
  expect(mainThreadSemiSpaceMissing(two, ['--enable-source-maps'], '')).toMatch(
    /WORKER_V8_SEMI_SPACE_MB=2 reaches the workflow thread only: node was started without --max-semi-space-size=2/,
  );
});

test('every missing variable is named in one error', () => {
  expect(() => loadWorkerConfig({})).toThrow(ConfigError);
  try {
    loadWorkerConfig({ REDIS_URL: 'redis://x:1' });
  } catch (e) {
    const problems = (e as ConfigError).problems;
    expect(problems).toEqual(
      expect.arrayContaining([
        'RUNBOOK_DATABASE_URL is missing',
        'STRIPE_API_KEY is missing',
        'ACCUBOOKS_API_URL is missing',
      ]),
    );
    expect(problems).not.toContain('REDIS_URL is missing');
  }
});

test('invalid values are named with what is expected', () => {
  expect(() => loadWorkerConfig({ ...valid, REDIS_URL: 'http://x:1' })).toThrow(
    /REDIS_URL must use redis or rediss/,
  );
  expect(() => loadWorkerConfig({ ...valid, TEMPORAL_ADDRESS: 'nohost' })).toThrow(
    /TEMPORAL_ADDRESS must be host:port/,
  );
  expect(() => loadWorkerConfig({ ...valid, TEMPORAL_TLS: 'maybe' })).toThrow(
    /TEMPORAL_TLS must be true or false/,
  );
  expect(() => loadWorkerConfig({ ...valid, DOCKER_HOST: '/var/run/docker.sock' })).toThrow(
    /DOCKER_HOST must be unix:\/\/\//,
  );
  expect(() => loadWorkerConfig({ ...valid, STRIPE_API_KEY: 'hunter2' })).toThrow(
    /STRIPE_API_KEY must look like/,
  );
});

test('the error message never contains a secret value', () => {
  try {
    loadWorkerConfig({ ...valid, STRIPE_API_KEY: 'pk_live_notasecretkey', RUNBOOK_DATABASE_URL: 'nope' });
  } catch (e) {
    expect((e as Error).message).not.toContain('pk_live_notasecretkey');
  }
});

test('TEMPORAL_TLS=false really is false, and an API key turns TLS on', () => {
  expect(loadTemporalConfig({ TEMPORAL_TLS: 'false' }).tls).toBeUndefined();
  expect(loadTemporalConfig({ TEMPORAL_API_KEY: 'k' }).tls).toBeDefined();
  expect(loadTemporalConfig({ TEMPORAL_TLS: 'true' }).tls).toBeDefined();
});

test('describeConfig masks every secret', () => {
  const c = loadWorkerConfig({
    ...valid,
    SMTP_URL: 'smtp://mailer:mailpw123@127.0.0.1:25',
    NOTIFY_SLACK_WEBHOOK_URL: 'http://hooks/T0/B0/XYZ',
  });
  const text = JSON.stringify(describeConfig(c));
  for (const secret of secretsOf(c)) expect(text).not.toContain(secret);
  expect(secretsOf(c)).toEqual(
    expect.arrayContaining(['sk_test_abc123', 's3cretpw', 'pd-routing-secret', 'mailpw123']),
  );
  expect(text).toContain('"apiKey":"set"');
  expect(maskUrl('postgres://u:p4ss@h:1/d')).toBe('postgres://u:***@h:1/d');
});
