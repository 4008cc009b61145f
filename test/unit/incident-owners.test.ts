/** INCIDENT_OWNERS: the follow-up's default owners, read by the worker's config and handed to its activity. */
import { createOwnerActivities } from '../../activities/owners';
import { ConfigError } from '../../config/errors';
import { describeConfig, loadWorkerConfig } from '../../config/worker';

const valid = {
  RUNBOOK_DATABASE_URL: 'postgres://runbook:s3cretpw@127.0.0.1:5432/accubooks',
  REDIS_URL: 'redis://127.0.0.1:6379',
  STRIPE_API_KEY: 'sk_test_abc123',
  ACCUBOOKS_API_URL: 'http://127.0.0.1:8080',
};

test('comma-separated emails are trimmed; unset means none (the policy default applies)', () => {
  const c = loadWorkerConfig({ ...valid, INCIDENT_OWNERS: ' dana@accubooks.test, lee@accubooks.test ,' });
  expect(c.incidentOwners).toEqual(['dana@accubooks.test', 'lee@accubooks.test']);
  expect(describeConfig(c).incidentOwners).toEqual(['dana@accubooks.test', 'lee@accubooks.test']);
  expect(loadWorkerConfig(valid).incidentOwners).toEqual([]);
  expect(loadWorkerConfig({ ...valid, INCIDENT_OWNERS: '' }).incidentOwners).toEqual([]);
});

test('a value that is not a list of emails is rejected, naming the variable and the bad entry', () => {
  for (const [value, message] of [
    [
      'dana@accubooks.test,lee',
      /INCIDENT_OWNERS must be comma-separated email addresses \("lee" is not one\)/,
    ],
    [' , ', /INCIDENT_OWNERS must be comma-separated email addresses$/m],
  ] as const) {
    let err: unknown;
    try {
      loadWorkerConfig({ ...valid, INCIDENT_OWNERS: value });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toMatch(message);
  }
});

test('the activity answers with a copy of the configured owners', async () => {
  const owners = ['dana@accubooks.test'];
  const answer = await createOwnerActivities({ incidentOwners: owners }).incidentOwners();
  expect(answer).toEqual(owners);
  expect(answer).not.toBe(owners);
  expect(await createOwnerActivities({}).incidentOwners()).toEqual([]);
});
