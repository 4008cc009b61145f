/**
 * The programs the image runs by name (`docker run accubooks-runbooks <command> [args]`), and where
 * each one's health endpoint answers for the image's HEALTHCHECK (image/healthcheck.ts).
 *
 * The programs are loaded only when chosen: the CLI does not load the worker's native Temporal core.
 * Their addresses come from their own config loaders, so the defaults are the programs' own.
 */
import type { RawEnv } from '../config/errors';

export interface ImageCommand {
  summary: string;
  /** Runs the program in this process; resolves with its exit code once it is done (a server: after SIGTERM). */
  run(args: string[]): Promise<number>;
  /** The URL the health check asks (200 = healthy); absent for a one-shot command. */
  healthUrl?(env: RawEnv): Promise<string>;
}

/** Where a server bound to HOST is reached from inside its own container. */
export function loopbackFor(host: string): string {
  if (host === '0.0.0.0' || host === '') return '127.0.0.1';
  if (host === '::' || host === '[::]') return '[::1]';
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}

export const IMAGE_COMMANDS: Record<string, ImageCommand> = {
  worker: {
    summary: 'the runbook worker (health: /healthz on WORKER_HEALTH_PORT)',
    run: async () => {
      await (await import('../worker/main')).main();
      return 0;
    },
    healthUrl: async (env) => {
      const { loadWorkerConfig } = await import('../config/worker');
      const { healthPort } = loadWorkerConfig(env);
      if (!healthPort) throw new Error('WORKER_HEALTH_PORT is 0 (off): the worker has no health endpoint');
      // The worker's health server listens on 127.0.0.1 only (worker/health-server.ts).
      return `http://127.0.0.1:${healthPort}/healthz`;
    },
  },
  intake: {
    summary: 'the alert intake (health: /readyz, which also checks Temporal)',
    run: async () => {
      await (await import('../client/intake/main')).main();
      return 0;
    },
    healthUrl: async (env) => {
      const { intake } = (await import('../config/intake')).loadIntakeConfig(env);
      return `http://${loopbackFor(intake.host)}:${intake.port}/readyz`;
    },
  },
  cli: {
    summary: 'the operator CLI, e.g. `cli list --json` (one-shot: no health check)',
    run: async (args) => (await import('../client/cli')).runCli(['node', 'runbooks', ...args]),
  },
  'codec-server': {
    summary: 'the payload codec endpoint of the Temporal UI and CLI (health: /healthz)',
    run: async () => {
      await (await import('../client/codec-server')).main();
      return 0;
    },
    healthUrl: async (env) => {
      const cfg = (await import('../config/codec-server')).loadCodecServerConfig(env);
      return `http://${loopbackFor(cfg.host)}:${cfg.port}/healthz`;
    },
  },
  'approval-page': {
    summary: 'the approval page (health: /readyz, which also checks Temporal)',
    run: async () => {
      await (await import('../client/approval-page/main')).main();
      return 0;
    },
    healthUrl: async (env) => {
      const { page } = (await import('../config/approval-page')).loadApprovalPageConfig(env);
      return `http://${loopbackFor(page.host)}:${page.port}/readyz`;
    },
  },
};

export function usage(): string {
  const width = Math.max(...Object.keys(IMAGE_COMMANDS).map((c) => c.length));
  return [
    'usage: docker run [options] accubooks-runbooks <command> [args]',
    '',
    ...Object.entries(IMAGE_COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`),
    '',
  ].join('\n');
}
