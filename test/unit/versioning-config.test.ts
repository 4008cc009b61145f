/** Worker Versioning settings (config/versioning.ts): on by default, one build ID per code, bad values named. */
import { execFileSync } from 'node:child_process';
import { loadWorkerConfig } from '../../config/worker';
import { DEPLOYMENT_NAME, defaultBuildId, packageRoot } from '../../config/versioning';
import { deploymentOptions } from '../../worker/versioning';

const valid = {
  RUNBOOK_DATABASE_URL: 'postgres://runbook:pw@127.0.0.1:5432/accubooks',
  REDIS_URL: 'redis://127.0.0.1:6379',
  STRIPE_API_KEY: 'sk_test_abc123',
  ACCUBOOKS_API_URL: 'http://127.0.0.1:8080',
};

test('versioned by default: deployment accubooks-runbooks, build = package version + git commit; incidents pinned', () => {
  const c = loadWorkerConfig(valid);
  const commit = execFileSync('git', ['rev-parse', '--short=12', 'HEAD'], {
    cwd: packageRoot,
    encoding: 'utf8',
  }).trim();
  expect(c.versioning).toEqual({ enabled: true, deploymentName: DEPLOYMENT_NAME, buildId: defaultBuildId() });
  expect(c.versioning.buildId).toMatch(new RegExp(`^0\\.1\\.0\\+${commit}(-dirty)?$`));
  expect(deploymentOptions(c.versioning)).toEqual({
    workerDeploymentOptions: {
      useWorkerVersioning: true,
      version: { deploymentName: 'accubooks-runbooks', buildId: c.versioning.buildId },
      defaultVersioningBehavior: 'PINNED',
    },
  });
});

test('WORKER_BUILD_ID overrides the build, WORKER_VERSIONING=off makes an unversioned worker', () => {
  const c = loadWorkerConfig({
    ...valid,
    WORKER_BUILD_ID: '2.0.0+ci.41',
    WORKER_DEPLOYMENT_NAME: 'abk-staging',
  });
  expect(c.versioning).toMatchObject({ deploymentName: 'abk-staging', buildId: '2.0.0+ci.41' });
  const off = loadWorkerConfig({ ...valid, WORKER_VERSIONING: 'off' });
  expect(off.versioning.enabled).toBe(false);
  expect(deploymentOptions(off.versioning)).toEqual({});
});

test('bad versioning values are named', () => {
  expect(() => loadWorkerConfig({ ...valid, WORKER_VERSIONING: 'yes' })).toThrow(
    /WORKER_VERSIONING must be on or off/,
  );
  expect(() => loadWorkerConfig({ ...valid, WORKER_BUILD_ID: 'v1:bad' })).toThrow(
    /WORKER_BUILD_ID must be letters/,
  );
  expect(() => loadWorkerConfig({ ...valid, WORKER_DEPLOYMENT_NAME: 'a/b' })).toThrow(
    /WORKER_DEPLOYMENT_NAME must be letters/,
  );
});
