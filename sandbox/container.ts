/**
 * The sandbox image and containers, through the Docker Engine API (dockerode).
 *
 * No image registry is reachable, so the image is built locally FROM scratch: this machine's
 * `node` binary, the shared libraries `ldd` lists for it (and the dynamic loader), and the app
 * bundled into one file by esbuild. The tag is a content hash, so an unchanged app is not rebuilt.
 * Containers run with host networking on the port they are given.
 */
import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, readFileSync } from 'node:fs';
import { chmod, copyFile, mkdir, mkdtemp, realpath, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import Docker from 'dockerode';
import type { SandboxRole } from './config';

const execFileP = promisify(execFile);

export const SANDBOX_IMAGE_REPO = 'accubooks-sandbox';
export const SANDBOX_LABEL = 'accubooks.sandbox';
/** Bump when the image layout changes, so the content hash changes with it. */
const IMAGE_LAYOUT_VERSION = '2';
const NODE_IN_IMAGE = '/usr/bin/node';
const APP_IN_IMAGE = '/app/sandbox.js';

/**
 * Dockerode for `DOCKER_HOST`: unix:///path.sock, or tcp://host:port (TLS when DOCKER_TLS_VERIFY=1,
 * with ca.pem, cert.pem and key.pem from DOCKER_CERT_PATH, as the docker CLI does).
 */
export function dockerFromEnv(env: NodeJS.ProcessEnv = process.env): Docker {
  const host = env.DOCKER_HOST?.trim();
  if (!host) throw new Error('DOCKER_HOST is not set (e.g. unix:///var/run/docker.sock or tcp://host:2375)');
  if (host.startsWith('unix://')) return new Docker({ socketPath: host.slice('unix://'.length) });
  if (host.startsWith('tcp://') || host.startsWith('http://') || host.startsWith('https://')) {
    const u = new URL(host.replace(/^tcp:/, 'http:'));
    const tls = host.startsWith('https://') || (env.DOCKER_TLS_VERIFY ?? '') !== '';
    const certDir = env.DOCKER_CERT_PATH;
    return new Docker({
      host: u.hostname,
      port: u.port ? Number(u.port) : tls ? 2376 : 2375,
      protocol: tls ? 'https' : 'http',
      ...(tls && certDir
        ? {
            ca: readFileSync(join(certDir, 'ca.pem')),
            cert: readFileSync(join(certDir, 'cert.pem')),
            key: readFileSync(join(certDir, 'key.pem')),
          }
        : {}),
    });
  }
  throw new Error(
    `DOCKER_HOST '${host}' is not supported (use unix:///path/to/docker.sock or tcp://host:port)`,
  );
}

// ------------------------------------------------------------------ image

export interface BuildImageOptions {
  /** Progress lines (build output); default: silent. */
  onProgress?: (line: string) => void;
  /** Rebuild even if an image with the content-hash tag exists. */
  force?: boolean;
}

/** Finds `sandbox/app.ts` from this file's place (sandbox/ under ts-jest, dist/sandbox/ when compiled). */
export function sandboxAppEntry(): string {
  for (let dir = __dirname; ; dir = dirname(dir)) {
    const candidate = join(dir, 'sandbox', 'app.ts');
    if (existsSync(candidate)) return candidate;
    if (dirname(dir) === dir) break;
  }
  throw new Error(`cannot find sandbox/app.ts above ${__dirname}`);
}

/** Bundles the app into one CommonJS file for Node 20 (pg, ioredis, prom-client included). */
export async function bundleSandboxApp(entry = sandboxAppEntry()): Promise<string> {
  const esbuild = await import('esbuild');
  const result = await esbuild.build({
    entryPoints: [entry],
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    external: ['pg-native'],
    write: false,
    legalComments: 'none',
    logLevel: 'silent',
  });
  const out = result.outputFiles[0];
  if (!out) throw new Error('esbuild produced no output');
  return out.text;
}

/** Shared libraries the binary needs, as absolute paths, from `ldd` (loader included). */
export async function sharedLibraries(binary: string): Promise<string[]> {
  const { stdout } = await execFileP('ldd', [binary]);
  const libs: string[] = [];
  for (const raw of stdout.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('linux-vdso') || line.includes('statically linked')) continue;
    if (line.includes('=> not found')) throw new Error(`ldd ${binary}: ${line}`);
    const m = /=>\s*(\/\S+)/.exec(line) ?? /^(\/\S+)\s/.exec(line);
    if (m?.[1]) libs.push(m[1]);
  }
  return [...new Set(libs)];
}

interface ContextFile {
  /** Absolute path inside the image. */
  dest: string;
  source?: string;
  content?: string;
  mode: number;
}

async function fileDigest(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Two steps only: each further instruction costs an intermediate container in the legacy builder. */
const DOCKERFILE = [
  'FROM scratch',
  'COPY rootfs/ /',
  `ENTRYPOINT ["${NODE_IN_IMAGE}", "${APP_IN_IMAGE}"]`,
  '',
].join('\n');

/**
 * Builds `accubooks-sandbox:<content hash>` unless it exists; returns the tag.
 * The hash covers the bundle, the node binary, its libraries and the image layout.
 */
export async function buildSandboxImage(docker: Docker, options: BuildImageOptions = {}): Promise<string> {
  const progress = options.onProgress ?? (() => undefined);
  const nodeBinary = await realpath(process.execPath);
  const [bundle, libs] = await Promise.all([bundleSandboxApp(), sharedLibraries(nodeBinary)]);
  const files: ContextFile[] = [
    { dest: NODE_IN_IMAGE, source: nodeBinary, mode: 0o755 },
    ...libs.map((lib) => ({ dest: lib, source: lib, mode: 0o755 })),
    { dest: APP_IN_IMAGE, content: bundle, mode: 0o644 },
    { dest: '/etc/nsswitch.conf', content: 'hosts: files dns\n', mode: 0o644 },
    { dest: '/etc/passwd', content: 'root:x:0:0:root:/root:/sbin/nologin\n', mode: 0o644 },
  ];

  const hash = createHash('sha256').update(`layout ${IMAGE_LAYOUT_VERSION}\n${DOCKERFILE}`);
  for (const f of files) {
    const digest = f.source
      ? await fileDigest(f.source)
      : createHash('sha256')
          .update(f.content ?? '')
          .digest('hex');
    hash.update(`${f.dest} ${f.mode.toString(8)} ${digest}\n`);
  }
  const contentHash = hash.digest('hex').slice(0, 16);
  const tag = `${SANDBOX_IMAGE_REPO}:${contentHash}`;

  if (!options.force && (await imageExists(docker, tag))) {
    progress(`image ${tag} is up to date`);
    return tag;
  }

  const started = Date.now();
  const ctx = await mkdtemp(join(tmpdir(), 'accubooks-sandbox-'));
  try {
    for (const f of files) {
      const target = join(ctx, 'rootfs', f.dest);
      await mkdir(dirname(target), { recursive: true });
      if (f.source) await copyFile(f.source, target);
      else await writeFile(target, f.content ?? '');
      await chmod(target, f.mode);
    }
    await mkdir(join(ctx, 'rootfs', 'tmp'), { recursive: true });
    await chmod(join(ctx, 'rootfs', 'tmp'), 0o1777);
    await writeFile(join(ctx, 'Dockerfile'), DOCKERFILE);
    progress(`building ${tag} (node ${process.version} from ${nodeBinary}, ${libs.length} libraries)`);
    await dockerBuild(
      docker,
      ctx,
      tag,
      { [SANDBOX_LABEL]: '1', [`${SANDBOX_LABEL}.hash`]: contentHash },
      progress,
    );
  } finally {
    await rm(ctx, { recursive: true, force: true });
  }
  if (!(await imageExists(docker, tag)))
    throw new Error(`docker build reported success but ${tag} is missing`);
  progress(`built ${tag} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return tag;
}

async function imageExists(docker: Docker, tag: string): Promise<boolean> {
  try {
    await docker.getImage(tag).inspect();
    return true;
  } catch (err) {
    if (statusOf(err) === 404) return false;
    throw err;
  }
}

/** Sends the context directory as a tar stream (the `tar` CLI) to the Engine's build endpoint. */
async function dockerBuild(
  docker: Docker,
  ctx: string,
  tag: string,
  labels: Record<string, string>,
  progress: (line: string) => void,
): Promise<void> {
  const tar = spawn('tar', ['-C', ctx, '-cf', '-', '.'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let tarErr = '';
  tar.stderr.on('data', (d: Buffer) => (tarErr += d.toString()));
  const tarDone = new Promise<void>((res, rej) => {
    tar.on('error', rej);
    tar.on('close', (code) =>
      code === 0 ? res() : rej(new Error(`tar exited with ${code}: ${tarErr.trim()}`)),
    );
  });
  const stream = await docker.buildImage(tar.stdout, { t: tag, labels, rm: true, forcerm: true });
  const output = await new Promise<unknown[]>((res, rej) => {
    docker.modem.followProgress(
      stream,
      (err, result) => (err ? rej(err) : res(result as unknown[])),
      (event: unknown) => {
        const e = event as { stream?: unknown };
        if (typeof e.stream === 'string' && e.stream.trim()) progress(e.stream.trimEnd());
      },
    );
  });
  await tarDone;
  for (const item of output) {
    const e = item as { error?: unknown; errorDetail?: { message?: unknown } };
    if (e.error !== undefined) {
      const detail =
        typeof e.errorDetail?.message === 'string' ? e.errorDetail.message : JSON.stringify(e.error);
      throw new Error(`docker build of ${tag} failed: ${detail}`);
    }
  }
}

// ------------------------------------------------------------------ containers

export interface RunSandboxOptions {
  name: string;
  image: string;
  port: number;
  /** Passed into the container (DATABASE_URL, REDIS_URL, POOL_MAX, ...). Undefined values are dropped. */
  env?: Record<string, string | undefined>;
  role?: SandboxRole;
  labels?: Record<string, string>;
  /** Where the health endpoint is reached from here (host networking): default 127.0.0.1. */
  healthHost?: string;
  /** Bound on the wait for health 200; default 30 s. */
  healthTimeoutMs?: number;
}

/** Removes an old container of that name, creates and starts the new one, waits for health 200. */
export async function runSandboxContainer(docker: Docker, opts: RunSandboxOptions): Promise<void> {
  const role = opts.role ?? 'api';
  const instance = opts.env?.INSTANCE ?? opts.name;
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(opts.env ?? {})) if (v !== undefined) env[k] = v;
  Object.assign(env, { PORT: String(opts.port), SANDBOX_ROLE: role, INSTANCE: instance });

  await removeSandboxContainer(docker, opts.name);
  const container = await docker.createContainer({
    name: opts.name,
    Image: opts.image,
    Env: Object.entries(env).map(([k, v]) => `${k}=${v}`),
    Labels: {
      ...opts.labels,
      [SANDBOX_LABEL]: '1',
      [`${SANDBOX_LABEL}.role`]: role,
      [`${SANDBOX_LABEL}.port`]: String(opts.port),
    },
    Tty: false,
    StopTimeout: 10,
    HostConfig: { NetworkMode: 'host', RestartPolicy: { Name: 'no' } },
  });
  await container.start();
  await waitForSandboxHealth(docker, {
    name: opts.name,
    port: opts.port,
    host: opts.healthHost,
    instance,
    timeoutMs: opts.healthTimeoutMs,
  });
}

/** Force-removes the container (running or not); a missing one is fine. */
export async function removeSandboxContainer(docker: Docker, name: string): Promise<void> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    try {
      await docker.getContainer(name).remove({ force: true, v: true });
      return;
    } catch (err) {
      const status = statusOf(err);
      if (status === 404) return;
      // 409: removal already in progress; wait for it to finish.
      if (status !== 409 || Date.now() > deadline) throw err;
      await delay(200);
    }
  }
}

export interface WaitForHealthOptions {
  name: string;
  port: number;
  host?: string;
  /** Expected `instance` in the health body (guards against another process on the port). */
  instance?: string;
  timeoutMs?: number;
}

/**
 * Polls the container's health endpoint until it answers 200. Fails early if the container stops,
 * and on timeout; both errors carry the container's last log lines.
 */
export async function waitForSandboxHealth(docker: Docker, opts: WaitForHealthOptions): Promise<void> {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const url = `http://${opts.host ?? '127.0.0.1'}:${opts.port}/api/monitoring/health`;
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer yet';
  for (;;) {
    const info = await docker.getContainer(opts.name).inspect();
    if (!info.State.Running) {
      const logs = await sandboxContainerLogs(docker, opts.name, 40).catch(() => []);
      throw new Error(
        `sandbox container ${opts.name} stopped before becoming healthy ` +
          `(status ${info.State.Status}, exit code ${info.State.ExitCode}); last log lines:\n${logs.join('\n')}`,
      );
    }
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
      const body = (await res.json().catch(() => ({}))) as { instance?: unknown; reason?: unknown };
      if (res.status === 200 && (opts.instance === undefined || body.instance === opts.instance)) return;
      last =
        res.status === 200
          ? `200 from another instance (${String(body.instance)}) on port ${opts.port}`
          : `${res.status} ${typeof body.reason === 'string' ? body.reason : ''}`.trim();
    } catch (err) {
      last = err instanceof Error ? err.message : String(err);
    }
    if (Date.now() > deadline) {
      const logs = await sandboxContainerLogs(docker, opts.name, 40).catch(() => []);
      throw new Error(
        `sandbox container ${opts.name} not healthy within ${timeoutMs} ms at ${url} (last: ${last}); ` +
          `last log lines:\n${logs.join('\n')}`,
      );
    }
    await delay(250);
  }
}

/** The container's last `tail` log lines (stdout and stderr, in order). */
export async function sandboxContainerLogs(docker: Docker, name: string, tail = 100): Promise<string[]> {
  const raw = await docker.getContainer(name).logs({ stdout: true, stderr: true, tail, follow: false });
  return demuxDockerLogs(Buffer.isBuffer(raw) ? raw : Buffer.from(String(raw)))
    .split('\n')
    .filter((l) => l.length > 0);
}

/** Decodes Docker's multiplexed log stream (8-byte frame headers); raw text (TTY) passes through. */
export function demuxDockerLogs(buf: Buffer): string {
  const parts: string[] = [];
  let off = 0;
  while (off + 8 <= buf.length) {
    const type = buf[off];
    if (
      (type !== 0 && type !== 1 && type !== 2) ||
      buf[off + 1] !== 0 ||
      buf[off + 2] !== 0 ||
      buf[off + 3] !== 0
    ) {
      return buf.toString('utf8');
    }
    const size = buf.readUInt32BE(off + 4);
    parts.push(buf.subarray(off + 8, off + 8 + size).toString('utf8'));
    off += 8 + size;
  }
  if (off < buf.length && parts.length === 0) return buf.toString('utf8');
  return parts.join('');
}

export function statusOf(err: unknown): number | undefined {
  const code = (err as { statusCode?: unknown } | null)?.statusCode;
  return typeof code === 'number' ? code : undefined;
}

function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
