/**
 * The image (Dockerfile, scripts/image.sh; issue 22): built on the locally made Node 24 base (no
 * registry here), cached on the second build, non-root on a read-only root filesystem, no secret in
 * its layers or its build context, and P0-1 end to end with both the intake and the worker running
 * from it on the stack's Docker engine: an Alertmanager alert posted to the containerised intake →
 * P0-1 on the containerised worker → the crashed sandbox API restarted → resolved.
 * Run by scripts/test-image.sh (jest.config.js leaves test/image/ to it).
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import type Docker from 'dockerode';
import { connectClient } from '../../client/connection';
import { incidentWorkflowId } from '../../client/incidents';
import { loadTemporalConfig } from '../../config/temporal';
import { libpqEnv } from '../../activities/evidence';
import { targetLeaseWorkflowId } from '../../definitions/target-guard';
import type { IncidentState } from '../../definitions/types';
import { need, uniqueId } from '../../rig/env';
import { startReceiver, type Receiver } from '../../rig/receivers';
import { freePort, testDocker } from '../../rig/sandbox';
import { stackApi } from '../../rig/stack-api';
import { sandboxContainerLogs } from '../../sandbox/container';
import { amAlert, amPayload } from '../intake/rig';
import {
  buildImage,
  contextProbe,
  execIn,
  IMAGE_TAG,
  layerNames,
  REPO,
  removeContainer,
  runContainer,
  saveImage,
  stringsIn,
  waitHealthy,
} from './containers';

const docker: Docker = testDocker();
const api = stackApi();
const figures: Record<string, number> = {};
const names = { worker: uniqueId('image-worker'), intake: uniqueId('image-intake') };

/** The stack's secrets (and this suite's): none may be in a layer, the image config or the context. */
function secretValues(intakeToken: string): string[] {
  const fromUrls = ['DATABASE_URL', 'RUNBOOK_DATABASE_URL', 'PG_ADMIN_URL']
    .map((n) => process.env[n])
    .filter((u): u is string => Boolean(u))
    .map((u) => decodeURIComponent(new URL(u).password));
  const plain = ['STACK_INTAKE_TOKEN', 'APPROVAL_CODE_KEY', 'PAYLOAD_CODEC_KEYS', 'CODEC_SERVER_TOKEN']
    .map((n) => process.env[n])
    .filter((v): v is string => Boolean(v));
  // PAYLOAD_CODEC_KEYS is id:key[,id:key]: each key alone too. (STRIPE_API_KEY is the stack's dummy
  // sk_test_123, which stripe's own CHANGELOG.md quotes: not a secret to look for.)
  const keys = plain.flatMap((v) => v.split(/[,:]/));
  return [...new Set([...fromUrls, ...plain, ...keys, intakeToken])].filter((s) => s.length >= 12);
}

beforeAll(async () => {
  // A killed earlier run's containers of this suite go first.
  const stale = await docker.listContainers({ all: true, filters: { label: ['accubooks.image-test'] } });
  for (const c of stale) await removeContainer(docker, c.Id);
}, 60_000);

afterAll(async () => {
  await removeContainer(docker, names.worker);
  await removeContainer(docker, names.intake);
  mkdirSync(path.join(REPO, 'test-artifacts'), { recursive: true });
  writeFileSync(path.join(REPO, 'test-artifacts/image-results.json'), JSON.stringify(figures, null, 2));
  // Removing a container deletes its copy of the image (the stack's engine uses vfs): slow under load.
}, 300_000);

test('the image builds, and a second build is all cache (the same image)', async () => {
  const first = await buildImage();
  const second = await buildImage();
  figures.firstBuildMs = first.ms;
  figures.secondBuildMs = second.ms;
  expect(second.id).toBe(first.id);
  const info = await docker.getImage(IMAGE_TAG).inspect();
  figures.imageBytes = info.Size;
  expect(info.Config.Entrypoint).toEqual(['node', '/app/dist/image/entrypoint.js']);
  expect(info.Config.Cmd).toEqual(['worker']);
  expect(info.Config.Healthcheck?.Test).toEqual(['CMD', 'node', '/app/dist/image/healthcheck.js']);
  // The image has no .git: its worker's build ID (Worker Versioning) comes in from the build.
  expect(info.Config.Env).toContainEqual(
    expect.stringMatching(/^WORKER_BUILD_ID=\d+\.\d+\.\d+\+[0-9a-f]{12}(-dirty)?$/),
  );
}, 600_000);

test('no secret in the layers, the image config or the build context', async () => {
  const canary = `canary-${randomBytes(12).toString('hex')}`;
  // Planted where a careless COPY would take them: the context probe must not see them.
  const planted = ['.env', 'client/.env.local', 'config/deploy.key', 'worker/tls.pem'].map((f) =>
    path.join(REPO, f),
  );
  for (const f of planted) writeFileSync(f, `SECRET=${canary}\n`);
  let context: string[];
  try {
    context = await contextProbe(docker, [
      '.env*',
      '.stack*',
      '.git*',
      'client/.env*',
      'config/*.key',
      'worker/*.pem',
    ]);
  } finally {
    for (const f of planted) unlinkSync(f);
  }
  expect(context.filter((n) => !n.endsWith('/'))).toEqual(['ctx/package.json']);

  const dir = mkdtempSync(path.join(tmpdir(), 'image-save-'));
  try {
    const saved = await saveImage(docker, IMAGE_TAG, dir);
    const secrets = [...secretValues('intake-token-not-in-image'), canary];
    expect(secrets.length).toBeGreaterThan(3);
    for (const s of secrets) expect(saved.config).not.toContain(s);
    // The scan finds what is there: the package name is in the layer holding package.json.
    const withName = await Promise.all(
      saved.layers.map((l) => stringsIn(l, ['"name": "accubooks-runbooks"'])),
    );
    expect(withName.flat().length).toBeGreaterThan(0);
    for (const layer of saved.layers) {
      expect(await stringsIn(layer, secrets)).toEqual([]);
      const bad = (await layerNames(layer)).filter((n) =>
        /(^|\/)(\.env(\.[^/]*)?|\.stack|\.git|id_rsa[^/]*|[^/]*\.pem|[^/]*\.key|[^/]*\.ppk)(\/|$)/.test(n),
      );
      expect(bad).toEqual([]);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, 300_000);

describe('the worker and the intake from the image, on the stack', () => {
  const taskQueue = uniqueId('image-p01');
  const intakeToken = randomBytes(24).toString('hex');
  let intakePort: number;
  let client: Client;
  let pd: Receiver;

  beforeAll(async () => {
    pd = await startReceiver();
    client = await connectClient(loadTemporalConfig());
    intakePort = await freePort();
    const temporal = {
      TEMPORAL_ADDRESS: need('TEMPORAL_ADDRESS'),
      TEMPORAL_NAMESPACE: process.env.TEMPORAL_NAMESPACE,
      // Its own task queue: no other worker of the suite takes its tasks, nor it theirs.
      TEMPORAL_TASK_QUEUE: taskQueue,
      PAYLOAD_CODEC_KEYS: process.env.PAYLOAD_CODEC_KEYS,
    };
    const t0 = Date.now();
    await runContainer(docker, {
      name: names.worker,
      cmd: ['worker'],
      dockerSocket: true,
      env: {
        ...temporal,
        RUNBOOK_DATABASE_URL: need('RUNBOOK_DATABASE_URL'),
        REDIS_URL: need('REDIS_URL'),
        STRIPE_API_KEY: need('STRIPE_API_KEY'),
        STRIPE_API_BASE: process.env.STRIPE_API_BASE,
        DOCKER_HOST: need('DOCKER_HOST'),
        ACCUBOOKS_API_URL: need('ACCUBOOKS_API_URL'),
        ACCUBOOKS_API_CONTAINER: need('ACCUBOOKS_API_CONTAINER'),
        PROMETHEUS_URL: process.env.PROMETHEUS_URL,
        NOTIFY_PAGERDUTY_EVENTS_URL: `${pd.url}/v2/enqueue`,
        PAGERDUTY_ROUTING_KEY: 'image-routing-key',
        // Host network: a port of its own, not the image's default.
        WORKER_HEALTH_PORT: String(await freePort()),
      },
    });
    await runContainer(docker, {
      name: names.intake,
      cmd: ['intake'],
      env: {
        ...temporal,
        INTAKE_HOST: '127.0.0.1',
        INTAKE_PORT: String(intakePort),
        INTAKE_BEARER_TOKEN: intakeToken,
      },
    });
    await Promise.all([waitHealthy(docker, names.worker), waitHealthy(docker, names.intake)]);
    figures.healthyMs = Date.now() - t0;
  }, 180_000);

  afterAll(async () => {
    await client?.connection.close();
    await pd?.close();
    await api.healthyAgain();
  }, 120_000);

  test('they run as uid 1000, not root, and cannot write their root filesystem', async () => {
    expect((await docker.getImage(IMAGE_TAG).inspect()).Config.User).toBe('1000:1000');
    const probe = `
      const fs = require('node:fs');
      const tryWrite = (f) => { try { fs.writeFileSync(f, 'x'); return 'written'; } catch (e) { return e.code; } };
      console.log(JSON.stringify({
        uid: process.getuid(), gid: process.getgid(),
        app: tryWrite('/app/dist/planted.js'), etc: tryWrite('/etc/planted'), tmp: tryWrite('/tmp/planted'),
        evidence: tryWrite('/var/lib/accubooks/evidence/planted'),
      }));`;
    for (const name of [names.worker, names.intake]) {
      const { code, output } = await execIn(docker, name, ['node', '-e', probe]);
      expect(code).toBe(0);
      expect(JSON.parse(output.trim())).toEqual({
        uid: 1000,
        gid: 1000,
        app: 'EROFS',
        etc: 'EROFS',
        tmp: 'EROFS',
        // The one writable place: the image's volume (the worker's evidence).
        evidence: 'written',
      });
    }
    // The main process itself (PID 1, the entry point) runs as 1000 too.
    const status = await execIn(docker, names.worker, [
      'node',
      '-p',
      "require('fs').readFileSync('/proc/1/status','utf8')",
    ]);
    expect(status.output).toMatch(/^Uid:\s+1000\s+1000\s+1000\s+1000$/m);
  });

  test('every command is there; a wrong one is named with the list; the CLI answers', async () => {
    const entry = ['node', '/app/dist/image/entrypoint.js'];
    const help = await execIn(docker, names.intake, [...entry, 'help']);
    expect(help.code).toBe(0);
    for (const c of ['worker', 'intake', 'cli', 'codec-server', 'approval-page'])
      expect(help.output).toContain(c);
    const wrong = await execIn(docker, names.intake, [...entry, 'wroker']);
    expect(wrong.code).toBe(2);
    expect(wrong.output).toContain("unknown command 'wroker'");
    // The CLI in the same image (exec, not a container of its own: each costs a copy of the image on vfs).
    const cli = await execIn(docker, names.intake, [...entry, 'cli', 'list', '--json']);
    expect(cli.code).toBe(0);
    expect(JSON.parse(cli.output)).toHaveProperty('incidents');
  }, 120_000);

  test("P0-4's pg_dump is in the image where PG_BIN_DIR says, and dumps the stack's database as uid 1000", async () => {
    const pgDump = '/usr/lib/postgresql/15/bin/pg_dump';
    const version = await execIn(docker, names.worker, [pgDump, '--version']);
    expect(version).toMatchObject({ code: 0, output: expect.stringMatching(/^pg_dump \(PostgreSQL\) 15\./) });
    // As the evidence activity runs it: the runbook role's libpq environment, into the volume.
    const file = '/var/lib/accubooks/evidence/image-test.dump';
    const dump = await execIn(
      docker,
      names.worker,
      [pgDump, '--format=custom', '--no-password', `--file=${file}`],
      libpqEnv(need('RUNBOOK_DATABASE_URL')),
    );
    expect(dump).toEqual({ code: 0, output: '' });
    const probe = `const f = ${JSON.stringify(file)}, fs = require('node:fs');
      const head = fs.readFileSync(f).subarray(0, 5).toString(); fs.unlinkSync(f); console.log(head);`;
    // A custom-format dump begins with pg_dump's magic "PGDMP".
    expect(await execIn(docker, names.worker, ['node', '-e', probe])).toEqual({ code: 0, output: 'PGDMP\n' });
  }, 60_000);

  test('an alert to the containerised intake → P0-1 on the containerised worker restarts the API', async () => {
    const container = need('ACCUBOOKS_API_CONTAINER');
    await api.healthyAgain();
    // Leftovers of a killed earlier run on another task queue would hold the API's lease or join the alert.
    for (const id of [incidentWorkflowId('P0-1', container), targetLeaseWorkflowId(container)]) {
      const h = client.workflow.getHandle(id);
      const d = await h.describe().catch(() => undefined);
      if (d?.status.name === 'RUNNING' && d.taskQueue !== taskQueue)
        await h.terminate('image test: leftover');
    }
    const t0 = Date.now();
    const before = await api.crash();
    const res = await fetch(`http://127.0.0.1:${intakePort}/alerts/alertmanager`, {
      method: 'POST',
      headers: { authorization: `Bearer ${intakeToken}`, 'content-type': 'application/json' },
      body: JSON.stringify(amPayload([amAlert('SystemUnreachable', container)])),
    });
    expect(res.status).toBe(200);
    const handle = client.workflow.getHandle(incidentWorkflowId('P0-1', container));
    const final = (await handle.result()) as IncidentState;
    figures.p01ResolvedMs = Date.now() - t0;
    await api.expectRestartedByP01(final, before);
    expect(final.trigger).toMatchObject({ source: 'alert', alertName: 'SystemUnreachable' });
    expect((await handle.describe()).taskQueue).toBe(taskQueue);
    // Pinned to the image's build: every workflow task completed on it.
    const env = (await docker.getImage(IMAGE_TAG).inspect()).Config.Env ?? [];
    const buildId = env.find((e) => e.startsWith('WORKER_BUILD_ID='))?.split('=')[1];
    const done = (await handle.fetchHistory()).events!.filter((e) => e.workflowTaskCompletedEventAttributes);
    expect(done.length).toBeGreaterThan(0);
    for (const e of done)
      expect(e.workflowTaskCompletedEventAttributes!.deploymentVersion?.buildId).toBe(buildId);
    // It ran on the container's worker (its log names the incident) and paged through the receiver.
    const workerLog = (await sandboxContainerLogs(docker, names.worker, 5000)).join('\n');
    expect(workerLog).toContain(handle.workflowId);
    for (const s of secretValues(intakeToken)) expect(workerLog).not.toContain(s);
    expect((await sandboxContainerLogs(docker, names.intake, 5000)).join('\n')).not.toContain(intakeToken);
  }, 240_000);

  test('docker stop drains the worker: SIGTERM reaches it as PID 1 and it exits 0', async () => {
    const worker = docker.getContainer(names.worker);
    await worker.stop({ t: 30 });
    const state = (await worker.inspect()).State;
    expect(state.ExitCode).toBe(0);
    expect((await sandboxContainerLogs(docker, names.worker, 20)).join('\n')).toContain('worker stopped');
  }, 90_000);
});
