/**
 * P1-3 "Scale workers if possible": more replicas of the forecast worker, started through the Docker
 * Engine API from the target's own container (same image, same environment, worker role), each
 * labelled so a later scale-down finds exactly the replicas this runbook started for this target.
 *
 * Replica names are deterministic (`<target>-fw-<n>`), so a retried scale-up finds the replicas it
 * already created instead of starting more. Nothing here is returned that carries the copied
 * environment (it holds connection strings).
 */
import { createServer } from 'node:net';
import { Context, log, sleep } from '@temporalio/activity';
import type Docker from 'dockerode';
import { apiUrlFor } from './health';
import { describeError, FailureType, nonRetryable, retryable } from '../definitions/errors';

export interface ScalingDeps {
  docker: Docker;
  /** API base URL per target; replicas listen on the same host (host networking). */
  apiUrls: Record<string, string>;
}

/** The labels that mark a replica; `scaled-for` is what scale-down selects on. */
export const REPLICA_LABEL = 'accubooks.scaled-for';
export const REPLICA_INDEX_LABEL = 'accubooks.replica-index';

export interface ReplicaSpec {
  /** The incident's target; replicas are labelled with it. */
  target: string;
  /** Container to copy image and environment from (default: the target). */
  template?: string;
  /** Environment set on each replica on top of the template's (e.g. SANDBOX_ROLE=forecast-worker). */
  env: Record<string, string>;
  /** Labels set on each replica on top of the template's. */
  labels: Record<string, string>;
  /** Variable that carries the replica's own port (host networking), and the label that shows it. */
  portEnv?: string;
  portLabel?: string;
  /** Variable that carries the replica's instance name (metrics label `instance_name`). */
  instanceEnv?: string;
  /** Health path polled on the new replica before it counts as running. */
  healthPath?: string;
  healthTimeoutMs: number;
}

export interface Replica {
  name: string;
  index: number;
  running: boolean;
  port?: number;
  startedAt: string;
}

export const replicaName = (target: string, index: number) => `${target}-fw-${index}`;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

const statusOf = (err: unknown) => (err as { statusCode?: number }).statusCode;

function engineError(what: string, err: unknown): Error {
  if (statusOf(err) === 404) return nonRetryable(FailureType.ContainerNotFound, `${what}: not found`);
  return retryable(
    FailureType.DependencyUnavailable,
    `${what}: ${describeError(err)}`,
    err instanceof Error ? err : undefined,
  );
}

async function listReplicas(docker: Docker, target: string): Promise<Replica[]> {
  let containers: Docker.ContainerInfo[];
  try {
    containers = await docker.listContainers({
      all: true,
      filters: { label: [`${REPLICA_LABEL}=${target}`] },
    });
  } catch (err) {
    throw engineError(`Listing replicas of ${target}`, err);
  }
  return containers
    .map((c) => ({
      name: (c.Names[0] ?? '').replace(/^\//, ''),
      index: Number(c.Labels[REPLICA_INDEX_LABEL] ?? 0),
      running: c.State === 'running',
      port: c.Labels['accubooks.replica-port'] ? Number(c.Labels['accubooks.replica-port']) : undefined,
      startedAt: new Date(c.Created * 1000).toISOString(),
    }))
    .sort((a, b) => a.index - b.index);
}

async function waitHealthy(docker: Docker, url: string, name: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer';
  for (;;) {
    Context.current().heartbeat({ waitingFor: name });
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
      if (res.status === 200) return;
      last = `HTTP ${res.status}`;
    } catch (err) {
      last = describeError(err);
    }
    const info = await docker.getContainer(name).inspect();
    if (!info.State.Running) {
      throw retryable(
        FailureType.DependencyUnavailable,
        `Replica ${name} stopped while starting (exit code ${info.State.ExitCode})`,
      );
    }
    if (Date.now() > deadline) {
      throw retryable(
        FailureType.DependencyUnavailable,
        `Replica ${name} not healthy in ${timeoutMs} ms (${last})`,
      );
    }
    await sleep(250);
  }
}

/**
 * A replica an earlier attempt created: started again if it stopped. false when there is none;
 * refused when a container of that name is not a replica of the target.
 */
async function reuseReplica(docker: Docker, spec: ReplicaSpec, name: string): Promise<boolean> {
  const existing = docker.getContainer(name);
  let info: Docker.ContainerInspectInfo | undefined;
  try {
    info = await existing.inspect();
  } catch (err) {
    if (statusOf(err) !== 404) throw engineError(`Replica ${name}`, err);
  }
  if (!info) return false;
  if (info.Config.Labels?.[REPLICA_LABEL] !== spec.target) {
    throw nonRetryable(
      FailureType.ActionRefused,
      `A container named ${name} exists but is not a replica of ${spec.target}; not touching it`,
    );
  }
  try {
    if (!info.State.Running) await existing.start();
  } catch (err) {
    if (statusOf(err) !== 304) throw engineError(`Starting replica ${name}`, err);
  }
  return true;
}

/** The new replica's container: the template's image, environment and labels, plus its own. */
function replicaContainer(
  spec: ReplicaSpec,
  index: number,
  template: Docker.ContainerInspectInfo,
  name: string,
  port: number,
): Docker.ContainerCreateOptions {
  const env = Object.fromEntries(
    (template.Config.Env ?? []).map((kv) => {
      const i = kv.indexOf('=');
      return [kv.slice(0, i), kv.slice(i + 1)];
    }),
  );
  Object.assign(env, spec.env);
  if (spec.portEnv) env[spec.portEnv] = String(port);
  if (spec.instanceEnv) env[spec.instanceEnv] = name;
  const labels: Record<string, string> = {
    ...(template.Config.Labels ?? {}),
    ...spec.labels,
    [REPLICA_LABEL]: spec.target,
    [REPLICA_INDEX_LABEL]: String(index),
    'accubooks.replica-port': String(port),
  };
  if (spec.portLabel) labels[spec.portLabel] = String(port);
  return {
    name,
    Image: template.Config.Image,
    Env: Object.entries(env).map(([k, v]) => `${k}=${v}`),
    Labels: labels,
    Tty: false,
    StopTimeout: 10,
    HostConfig: { NetworkMode: template.HostConfig.NetworkMode, RestartPolicy: { Name: 'no' } },
  };
}

async function startReplica(
  deps: ScalingDeps,
  spec: ReplicaSpec,
  index: number,
  template: Docker.ContainerInspectInfo,
): Promise<{ name: string; created: boolean }> {
  const name = replicaName(spec.target, index);
  if (await reuseReplica(deps.docker, spec, name)) return { name, created: false };
  const port = await freePort();
  try {
    const container = await deps.docker.createContainer(replicaContainer(spec, index, template, name, port));
    await container.start();
  } catch (err) {
    throw engineError(`Creating replica ${name}`, err);
  }
  if (spec.healthPath) {
    const host = new URL(apiUrlFor(deps.apiUrls, spec.target)).hostname;
    await waitHealthy(deps.docker, `http://${host}:${port}${spec.healthPath}`, name, spec.healthTimeoutMs);
  }
  return { name, created: true };
}

export const createScalingActivities = (deps: ScalingDeps) => {
  const list = (target: string) => listReplicas(deps.docker, target);

  return {
    /** The replicas this runbook started for a target (running or not). */
    listWorkerReplicas: (input: { target: string }): Promise<Replica[]> => list(input.target),

    /**
     * Makes sure `replicas` replicas run (indexes 1..replicas). Never starts more than asked, even
     * when retried; returns which ones it created now.
     */
    async scaleWorkersUp(
      input: ReplicaSpec & { replicas: number; reason: string },
    ): Promise<{ created: string[]; running: Replica[] }> {
      if (!Number.isInteger(input.replicas) || input.replicas < 0 || input.replicas > 50) {
        throw nonRetryable(FailureType.InvalidInput, `replicas must be 0..50, got ${input.replicas}`);
      }
      const templateName = input.template ?? input.target;
      let template: Docker.ContainerInspectInfo;
      try {
        template = await deps.docker.getContainer(templateName).inspect();
      } catch (err) {
        throw engineError(`Template container ${templateName}`, err);
      }
      const created: string[] = [];
      for (let i = 1; i <= input.replicas; i++) {
        const r = await startReplica(deps, input, i, template);
        if (r.created) created.push(r.name);
      }
      log.info('forecast workers scaled up', {
        target: input.target,
        replicas: input.replicas,
        created,
        reason: input.reason,
      });
      return { created, running: (await list(input.target)).filter((r) => r.running) };
    },

    /** Stops and removes replicas above `keep` (highest index first). Idempotent. */
    async scaleWorkersDown(input: {
      target: string;
      keep: number;
      stopTimeoutSec: number;
      reason: string;
    }): Promise<{ removed: string[]; remaining: Replica[] }> {
      const removed: string[] = [];
      const replicas = (await list(input.target)).sort((a, b) => b.index - a.index);
      for (const r of replicas) {
        if (r.index <= input.keep) continue;
        try {
          const c = deps.docker.getContainer(r.name);
          // A clean stop first (jobs in hand finish), then the container goes.
          await c.stop({ t: input.stopTimeoutSec }).catch((err: unknown) => {
            if (statusOf(err) !== 304 && statusOf(err) !== 404) throw err;
          });
          await c.remove({ force: true, v: true });
          removed.push(r.name);
        } catch (err) {
          if (statusOf(err) !== 404) throw engineError(`Removing replica ${r.name}`, err);
        }
      }
      log.info('forecast workers scaled down', { target: input.target, removed, reason: input.reason });
      return { removed, remaining: await list(input.target) };
    },
  };
};
