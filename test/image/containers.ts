/**
 * The image suite's rig: builds the image with scripts/image.sh, runs its commands as containers on
 * the stack's Docker engine (host network, read-only root, the stack's Docker socket), waits for the
 * image's own health check, and opens the saved image to look inside its layers.
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type Docker from 'dockerode';
import { demuxDockerLogs, sandboxContainerLogs, statusOf } from '../../sandbox/container';
import { need } from '../../rig/env';
import { waitUntil } from '../../rig/sandbox';

const execFileP = promisify(execFile);
export const REPO = path.join(__dirname, '../..');
export const IMAGE_TAG = 'accubooks-runbooks:test';
/** Labels every container of this suite, so a killed run's leftovers are found and removed. */
export const TEST_LABEL = 'accubooks.image-test';

/** `scripts/image.sh build`: the image ID and how long the build took. */
export async function buildImage(tag = IMAGE_TAG): Promise<{ id: string; ms: number }> {
  const t0 = Date.now();
  const { stdout } = await execFileP('bash', [path.join(REPO, 'scripts/image.sh'), 'build', '--tag', tag], {
    cwd: REPO,
    env: process.env,
    maxBuffer: 256 * 1024 * 1024,
  });
  const id = stdout.trim().split('\n').pop() ?? '';
  if (!id.startsWith('sha256:')) throw new Error(`scripts/image.sh build printed no image ID: ${stdout}`);
  return { id, ms: Date.now() - t0 };
}

/** The socket of DOCKER_HOST (unix://…), which the worker mounts to restart the API container. */
export function dockerSocket(): string {
  const host = need('DOCKER_HOST');
  if (!host.startsWith('unix://')) throw new Error(`the image suite needs a unix DOCKER_HOST (got ${host})`);
  return host.slice('unix://'.length);
}

export interface RunOptions {
  name: string;
  cmd: string[];
  env: Record<string, string | undefined>;
  /** Mount the stack's Docker socket, with its group added (the user is not root). */
  dockerSocket?: boolean;
  /** Replace the entry point (e.g. `node` for a probe script). */
  entrypoint?: string[];
}

/**
 * Creates and starts a container of the image: host network (the stack listens on 127.0.0.1),
 * read-only root filesystem, the image's user. The image's HEALTHCHECK command is kept; only its
 * interval is shortened to 1 s, so that a test does not wait the production 30 s for the first probe.
 */
export async function runContainer(docker: Docker, opts: RunOptions): Promise<Docker.Container> {
  await removeContainer(docker, opts.name);
  const image = await docker.getImage(IMAGE_TAG).inspect();
  const binds: string[] = [];
  const groups: string[] = [];
  if (opts.dockerSocket) {
    const sock = dockerSocket();
    binds.push(`${sock}:${sock}`);
    groups.push(String(statSync(sock).gid));
  }
  const container = await docker.createContainer({
    name: opts.name,
    Image: IMAGE_TAG,
    Cmd: opts.cmd,
    ...(opts.entrypoint ? { Entrypoint: opts.entrypoint } : {}),
    Env: Object.entries(opts.env)
      .filter((e): e is [string, string] => e[1] !== undefined)
      .map(([k, v]) => `${k}=${v}`),
    Labels: { [TEST_LABEL]: '1' },
    Healthcheck: image.Config.Healthcheck
      ? { ...image.Config.Healthcheck, Interval: 1_000_000_000 }
      : undefined,
    HostConfig: { NetworkMode: 'host', ReadonlyRootfs: true, Binds: binds, GroupAdd: groups },
  });
  await container.start();
  return container;
}

/** Waits until Docker reports the container healthy (its image's HEALTHCHECK); fails on exit or unhealthy. */
export async function waitHealthy(docker: Docker, name: string, timeoutMs = 90_000): Promise<void> {
  let last = '';
  await waitUntil(
    `container ${name} to be healthy`,
    async () => {
      const info = await docker.getContainer(name).inspect();
      const health = info.State.Health;
      last = health?.Log?.at(-1)?.Output?.trim() ?? '';
      if (!info.State.Running || health?.Status === 'unhealthy') {
        const logs = await sandboxContainerLogs(docker, name, 30).catch(() => []);
        throw new Error(
          `container ${name} is ${info.State.Running ? 'unhealthy' : `stopped (exit ${info.State.ExitCode})`}; ` +
            `last check: ${last}\nlast log lines:\n${logs.join('\n')}`,
        );
      }
      return health?.Status === 'healthy';
    },
    timeoutMs,
  );
}

/** Stops (SIGTERM, then Docker's SIGKILL after 30 s) and removes the container and its anonymous volume. */
export async function removeContainer(docker: Docker, name: string): Promise<void> {
  try {
    await docker.getContainer(name).remove({ force: true, v: true });
  } catch (err) {
    if (statusOf(err) !== 404) throw err;
  }
}

export interface SavedImage {
  /** Paths of the layer tars (docker save's layout). */
  layers: string[];
  /** The image's config as saved (env, history, health check, user). */
  config: string;
}

/** `docker save` of the image, unpacked into DIR. */
export async function saveImage(docker: Docker, tag: string, dir: string): Promise<SavedImage> {
  const stream = await docker.getImage(tag).get();
  const tar = spawn('tar', ['-x', '-C', dir], { stdio: ['pipe', 'ignore', 'pipe'] });
  let err = '';
  tar.stderr.on('data', (d: Buffer) => (err += d.toString()));
  stream.pipe(tar.stdin);
  await new Promise<void>((resolve, reject) =>
    tar.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`tar: ${err}`)))),
  );
  const [manifest] = JSON.parse(readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as {
    Config: string;
    Layers: string[];
  }[];
  if (!manifest) throw new Error('docker save wrote no manifest');
  return {
    layers: manifest.Layers.map((l) => path.join(dir, l)),
    config: readFileSync(path.join(dir, manifest.Config), 'utf8'),
  };
}

/** The file names in a layer tar. */
export async function layerNames(layer: string): Promise<string[]> {
  const { stdout } = await execFileP('tar', ['-tf', layer], { maxBuffer: 256 * 1024 * 1024 });
  return stdout.split('\n').filter(Boolean);
}

/** Which of the strings occur in the file's bytes: one pass of grep -F, binary read as text. */
export async function stringsIn(file: string, strings: string[]): Promise<string[]> {
  const args = ['-a', '-o', '-F', ...strings.flatMap((s) => ['-e', s]), file];
  try {
    const { stdout } = await execFileP('grep', args, { maxBuffer: 256 * 1024 * 1024 });
    return [...new Set(stdout.split('\n').filter(Boolean))];
  } catch (err) {
    // grep exits 1 when nothing matched; anything else is a real failure.
    if ((err as { code?: unknown }).code === 1) return [];
    throw err;
  }
}

/** `docker exec` in a running container (as the image's user): exit code and output. */
export async function execIn(
  docker: Docker,
  name: string,
  cmd: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; output: string }> {
  const exec = await docker.getContainer(name).exec({
    Cmd: cmd,
    Env: Object.entries(env).map(([k, v]) => `${k}=${v}`),
    AttachStdout: true,
    AttachStderr: true,
  });
  const stream = await exec.start({ hijack: true, stdin: false });
  const chunks: Buffer[] = [];
  stream.on('data', (d: Buffer) => chunks.push(d));
  await new Promise<void>((resolve, reject) => {
    stream.on('end', () => resolve());
    stream.on('error', reject);
  });
  const info = await exec.inspect();
  return { code: info.ExitCode ?? -1, output: demuxDockerLogs(Buffer.concat(chunks)) };
}

/**
 * The build context as the project's .dockerignore leaves it: a throwaway image that COPYs
 * package.json (let through) and every given pattern from the context; returns the paths it got
 * (under ctx/). A pattern the .dockerignore keeps out matches nothing there.
 */
export async function contextProbe(docker: Docker, patterns: string[]): Promise<string[]> {
  const tag = 'accubooks-context-probe:test';
  const dockerfile = `FROM scratch\nCOPY package.json ${patterns.join(' ')} /ctx/\n`;
  // The Debian client, as scripts/lib.sh prefers (its BuildKit needs no plugin).
  const cli = existsSync('/usr/bin/docker') ? '/usr/bin/docker' : 'docker';
  const build = spawn(cli, ['build', '-q', '-t', tag, '-f', '-', '.'], {
    cwd: REPO,
    env: { ...process.env, DOCKER_BUILDKIT: '1' },
    stdio: ['pipe', 'ignore', 'pipe'],
  });
  let err = '';
  build.stderr.on('data', (d: Buffer) => (err += d.toString()));
  build.stdin.end(dockerfile);
  await new Promise<void>((resolve, reject) =>
    build.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`context probe build: ${err}`)))),
  );
  const dir = await mkdtemp(path.join(tmpdir(), 'ctx-probe-'));
  try {
    const saved = await saveImage(docker, tag, dir);
    return (await Promise.all(saved.layers.map(layerNames))).flat();
  } finally {
    await rm(dir, { recursive: true, force: true });
    await docker.getImage(tag).remove({ force: true });
  }
}
