/**
 * The API container, through the Docker Engine API (dockerode). The same code drives the local
 * private dockerd and a production Docker host: only DOCKER_HOST changes.
 */
import type Docker from 'dockerode';
import { log } from '@temporalio/activity';
import { describeError, FailureType, nonRetryable, redact, retryable } from '../definitions/errors';
import type { ContainerState } from '../definitions/observations';

export interface LogTail {
  container: string;
  lines: string[];
  errorLines: number;
  state: ContainerState;
}

/** The mutating step's guard: acting twice on a retried activity must not restart twice. */
export interface MutationInput {
  container: string;
  /** Workflow time at which the runbook decided to act; a start after it means the act already happened. */
  decidedAt: string;
  reason: string;
}

const MAX_LINE = 400;

export function dockerFromHost(host: string, DockerCtor: typeof Docker): Docker {
  if (host.startsWith('unix://')) return new DockerCtor({ socketPath: host.slice('unix://'.length) });
  const u = new URL(host);
  return new DockerCtor({ host: u.hostname, port: Number(u.port) });
}

/** Docker multiplexes stdout/stderr in 8-byte-header frames when the container has no TTY. */
export function demuxLogs(buf: Buffer): string {
  if (buf.length < 8 || buf[1] !== 0 || buf[2] !== 0 || buf[3] !== 0 || buf[0] > 2)
    return buf.toString('utf8');
  const out: Buffer[] = [];
  let i = 0;
  while (i + 8 <= buf.length) {
    const size = buf.readUInt32BE(i + 4);
    out.push(buf.subarray(i + 8, i + 8 + size));
    i += 8 + size;
  }
  return Buffer.concat(out).toString('utf8');
}

function classify(err: unknown, container: string): Error {
  const status = (err as { statusCode?: number }).statusCode;
  if (status === 404)
    return nonRetryable(FailureType.ContainerNotFound, `Container "${container}" does not exist`);
  return retryable(
    FailureType.DependencyUnavailable,
    `Docker engine error for "${container}": ${describeError(err)}`,
    err instanceof Error ? err : undefined,
  );
}

async function inspectContainerState(docker: Docker, container: string): Promise<ContainerState> {
  try {
    const info = await docker.getContainer(container).inspect();
    return {
      name: info.Name.replace(/^\//, ''),
      running: info.State.Running,
      status: info.State.Status,
      exitCode: info.State.ExitCode,
      restartCount: info.RestartCount,
      startedAt: info.State.StartedAt,
      finishedAt: info.State.FinishedAt,
    };
  } catch (err) {
    throw classify(err, container);
  }
}

const startedSince = (state: ContainerState, decidedAt: string) =>
  state.running && Date.parse(state.startedAt) > Date.parse(decidedAt);

/** What the container is doing: its state and its recent logs. */
const createContainerInspection = (deps: { docker: Docker }) => ({
  inspectContainer: (input: { container: string }): Promise<ContainerState> =>
    inspectContainerState(deps.docker, input.container),

  /** Runbook step "Check logs": the last N lines, credentials masked, long lines cut. */
  async tailContainerLogs(input: { container: string; lines: number }): Promise<LogTail> {
    const state = await inspectContainerState(deps.docker, input.container);
    let raw: Buffer;
    try {
      raw = await deps.docker
        .getContainer(input.container)
        .logs({ stdout: true, stderr: true, tail: input.lines, follow: false });
    } catch (err) {
      throw classify(err, input.container);
    }
    const lines = demuxLogs(Buffer.from(raw))
      .split('\n')
      .filter((l) => l.length > 0)
      .slice(-input.lines)
      .map((l) => redact(l.length > MAX_LINE ? `${l.slice(0, MAX_LINE)}…` : l));
    return {
      container: input.container,
      lines,
      errorLines: lines.filter((l) => /\berror\b|"level":\s*"(error|fatal)"|\bFATAL\b/i.test(l)).length,
      state,
    };
  },
});

/** Restart, stop and start: the mutations (reached only through the target guard's grant check). */
const createContainerControl = (deps: { docker: Docker }) => {
  const inspect = (container: string) => inspectContainerState(deps.docker, container);
  return {
    /** Runbook step "Restart": `docker restart`; skipped when a retry finds it already restarted. */
    async restartContainer(input: MutationInput & { stopTimeoutSec: number }): Promise<{
      restarted: boolean;
      alreadyDone: boolean;
      state: ContainerState;
    }> {
      const before = await inspect(input.container);
      if (startedSince(before, input.decidedAt)) {
        return { restarted: false, alreadyDone: true, state: before };
      }
      log.info('restarting container', { container: input.container, reason: input.reason });
      try {
        await deps.docker.getContainer(input.container).restart({ t: input.stopTimeoutSec });
      } catch (err) {
        throw classify(err, input.container);
      }
      return { restarted: true, alreadyDone: false, state: await inspect(input.container) };
    },

    /** `docker stop`: the engine answers 304 when it is already stopped, which counts as done. */
    async stopContainer(input: MutationInput & { stopTimeoutSec: number }): Promise<{
      stopped: boolean;
      alreadyDone: boolean;
      state: ContainerState;
    }> {
      log.info('stopping container', { container: input.container, reason: input.reason });
      let alreadyDone = false;
      try {
        await deps.docker.getContainer(input.container).stop({ t: input.stopTimeoutSec });
      } catch (err) {
        if ((err as { statusCode?: number }).statusCode !== 304) throw classify(err, input.container);
        alreadyDone = true;
      }
      return { stopped: !alreadyDone, alreadyDone, state: await inspect(input.container) };
    },

    /** `docker start`: the engine answers 304 when it is already running, which counts as done. */
    async startContainer(
      input: MutationInput,
    ): Promise<{ started: boolean; alreadyDone: boolean; state: ContainerState }> {
      log.info('starting container', { container: input.container, reason: input.reason });
      let alreadyDone = false;
      try {
        await deps.docker.getContainer(input.container).start();
      } catch (err) {
        if ((err as { statusCode?: number }).statusCode !== 304) throw classify(err, input.container);
        alreadyDone = true;
      }
      return { started: !alreadyDone, alreadyDone, state: await inspect(input.container) };
    },
  };
};

export const createDockerActivities = (deps: { docker: Docker }) => ({
  ...createContainerInspection(deps),
  ...createContainerControl(deps),
});
