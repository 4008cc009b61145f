/** A private sandbox API container per test file, on a free port, driven into faults over HTTP. */
import { createServer } from 'node:net';
import Docker from 'dockerode';
import { dockerFromHost } from '../activities/docker';
import { buildSandboxImage, removeSandboxContainer, runSandboxContainer } from '../sandbox/container';
import { need, uniqueId } from './env';

export function testDocker(): Docker {
  return dockerFromHost(need('DOCKER_HOST'), Docker);
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

let image: Promise<string> | undefined;

export interface Sandbox {
  name: string;
  url: string;
  docker: Docker;
  inject(fault: Record<string, unknown>): Promise<void>;
  clearFaults(): Promise<void>;
  health(): Promise<number | null>;
  startedAt(): Promise<string>;
  remove(): Promise<void>;
}

export async function startSandbox(
  prefix = 'abk-test',
  extraEnv: Record<string, string> = {},
): Promise<Sandbox> {
  const docker = testDocker();
  image ??= buildSandboxImage(docker);
  const name = uniqueId(prefix);
  const port = await freePort();
  await runSandboxContainer(docker, {
    name,
    image: await image,
    port,
    env: { DATABASE_URL: need('DATABASE_URL'), REDIS_URL: need('REDIS_URL'), INSTANCE: name, ...extraEnv },
  });
  const url = `http://127.0.0.1:${port}`;
  const call = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${url}${path}`, {
      method,
      headers: body ? { 'content-type': 'application/json' } : {},
      body: body ? JSON.stringify(body) : undefined,
      signal: AbortSignal.timeout(5000),
    });
    if (!res.ok) throw new Error(`${method} ${path}: HTTP ${res.status} ${await res.text()}`);
  };
  return {
    name,
    url,
    docker,
    inject: (fault) => call('POST', '/api/sandbox/faults', fault),
    clearFaults: () => call('DELETE', '/api/sandbox/faults'),
    async health() {
      try {
        const res = await fetch(`${url}/api/monitoring/health`, { signal: AbortSignal.timeout(2000) });
        return res.status;
      } catch {
        return null;
      }
    },
    async startedAt() {
      return (await docker.getContainer(name).inspect()).State.StartedAt;
    },
    remove: () => removeSandboxContainer(docker, name),
  };
}

export async function waitUntil(what: string, fn: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await fn())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
