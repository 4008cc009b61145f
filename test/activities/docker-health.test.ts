/**
 * Health and Docker activities against the real sandbox container and the real Docker engine,
 * including the engine's 304 (already running / already stopped) and 404 (no such container).
 */
import { runActivity } from '../../rig/activity';
import { ApplicationFailure } from '@temporalio/common';
import { createDockerActivities } from '../../activities/docker';
import { createHealthActivities } from '../../activities/health';
import { startSandbox, waitUntil, type Sandbox } from '../../rig/sandbox';

let sandbox: Sandbox;
let docker: ReturnType<typeof createDockerActivities>;
let health: ReturnType<typeof createHealthActivities>;
const now = () => new Date().toISOString();

beforeAll(async () => {
  sandbox = await startSandbox('abk-act');
  docker = createDockerActivities({ docker: sandbox.docker });
  health = createHealthActivities({ apiUrls: { [sandbox.name]: sandbox.url } });
});
afterAll(() => sandbox?.remove());

test('checkHealth reports 200 from the running sandbox', async () => {
  const h = await runActivity(health.checkHealth, { target: sandbox.name, timeoutMs: 2000 });
  expect(h).toMatchObject({ healthy: true, status: 200 });
});

test('checkHealth reports 503 with the reason when health fails', async () => {
  await sandbox.inject({ fault: 'fail-health' });
  const h = await runActivity(health.checkHealth, { target: sandbox.name, timeoutMs: 2000 });
  expect(h.healthy).toBe(false);
  expect(h.status).toBe(503);
  expect(h.reason).toBeTruthy();
  await sandbox.clearFaults();
});

test('checkHealth times out on a hung API and names the timeout', async () => {
  await sandbox.inject({ fault: 'hang' });
  const h = await runActivity(health.checkHealth, { target: sandbox.name, timeoutMs: 500 });
  expect(h).toMatchObject({ healthy: false, status: null, reason: 'no answer within 500 ms' });
  await runActivity(docker.restartContainer, {
    container: sandbox.name,
    decidedAt: now(),
    reason: 'test',
    stopTimeoutSec: 1,
  });
  await waitUntil('health after restart', async () => (await sandbox.health()) === 200);
});

test('checkHealth refuses an unknown target by name', async () => {
  await expect(runActivity(health.checkHealth, { target: 'no-such-target', timeoutMs: 500 })).rejects.toThrow(
    /No API URL is configured for target "no-such-target"/,
  );
});

test('tailContainerLogs returns the last N lines and the container state', async () => {
  const logs = await runActivity(docker.tailContainerLogs, { container: sandbox.name, lines: 5 });
  expect(logs.lines.length).toBeGreaterThan(0);
  expect(logs.lines.length).toBeLessThanOrEqual(5);
  expect(logs.state.running).toBe(true);
  expect(logs.lines.join('\n')).not.toMatch(/postgres:\/\/[^:]+:[^*@]+@/); // passwords masked
});

test('restartContainer restarts once, and a retry of the same decision does not restart again', async () => {
  const decidedAt = now();
  const first = await runActivity(docker.restartContainer, {
    container: sandbox.name,
    decidedAt,
    reason: 'test',
    stopTimeoutSec: 1,
  });
  expect(first).toMatchObject({ restarted: true, alreadyDone: false });
  const startedAt = first.state.startedAt;
  const retry = await runActivity(docker.restartContainer, {
    container: sandbox.name,
    decidedAt,
    reason: 'test',
    stopTimeoutSec: 1,
  });
  expect(retry).toMatchObject({ restarted: false, alreadyDone: true });
  expect(retry.state.startedAt).toBe(startedAt);
  await waitUntil('health after restart', async () => (await sandbox.health()) === 200);
});

test('startContainer on a running container is the engine 304: already done', async () => {
  const r = await runActivity(docker.startContainer, {
    container: sandbox.name,
    decidedAt: now(),
    reason: 'test',
  });
  expect(r).toMatchObject({ started: false, alreadyDone: true });
});

test('stopContainer stops, a second stop is the engine 304, start brings it back', async () => {
  const stopped = await runActivity(docker.stopContainer, {
    container: sandbox.name,
    decidedAt: now(),
    reason: 'test',
    stopTimeoutSec: 1,
  });
  expect(stopped).toMatchObject({ stopped: true, alreadyDone: false });
  expect(stopped.state.running).toBe(false);
  const again = await runActivity(docker.stopContainer, {
    container: sandbox.name,
    decidedAt: now(),
    reason: 'test',
    stopTimeoutSec: 1,
  });
  expect(again).toMatchObject({ stopped: false, alreadyDone: true });
  const started = await runActivity(docker.startContainer, {
    container: sandbox.name,
    decidedAt: now(),
    reason: 'test',
  });
  expect(started).toMatchObject({ started: true, alreadyDone: false });
  await waitUntil('health after start', async () => (await sandbox.health()) === 200);
});

test('a missing container is the engine 404: a non-retryable CONTAINER_NOT_FOUND', async () => {
  const err = await runActivity(docker.restartContainer, {
    container: 'abk-does-not-exist',
    decidedAt: now(),
    reason: 'test',
    stopTimeoutSec: 1,
  }).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ApplicationFailure);
  expect((err as ApplicationFailure).type).toBe('CONTAINER_NOT_FOUND');
  expect((err as ApplicationFailure).nonRetryable).toBe(true);
  await expect(
    runActivity(docker.tailContainerLogs, { container: 'abk-does-not-exist', lines: 10 }),
  ).rejects.toThrow('Container "abk-does-not-exist" does not exist');
});
