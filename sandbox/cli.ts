/**
 * Sandbox image and container CLI (Docker reached through DOCKER_HOST).
 *
 *   node dist/sandbox/cli.js build-image                 prints the tag as the last stdout line
 *   node dist/sandbox/cli.js run --name N --port P --image TAG [--role api|forecast-worker]
 *        [--env K=V ...] [--label K=V ...] [--health-timeout MS]
 *   node dist/sandbox/cli.js rm --name N
 *   node dist/sandbox/cli.js logs --name N [--tail 100]
 *
 * `run` passes DATABASE_URL and REDIS_URL from its own environment into the container, and the
 * sandbox's optional settings (POOL_MAX, SELF_TRAFFIC_RPS, ...) when they are set.
 */
import { parseArgs } from 'node:util';
import {
  buildSandboxImage,
  dockerFromEnv,
  removeSandboxContainer,
  runSandboxContainer,
  sandboxContainerLogs,
} from './container';
import type { SandboxRole } from './config';

/** Settings forwarded from the CLI's environment into the container when set. */
export const FORWARDED_ENV = [
  'DATABASE_URL',
  'REDIS_URL',
  'POOL_MAX',
  'SELF_TRAFFIC_RPS',
  'HOST',
  'FORECAST_QUEUE_KEY',
  'FORECAST_PAUSE_KEY',
  'SANDBOX_FAULTS_KEY',
  'BILLING_KEY',
  'FORECAST_PRODUCE_RPS',
  'FORECAST_JOB_MS',
  'FORECAST_CONSUMERS',
  'UTILIZATION_WINDOW_MS',
  'POOL_ACQUIRE_TIMEOUT_MS',
] as const;

const USAGE = `usage:
  cli.js build-image [--force]
  cli.js run --name NAME --port PORT --image TAG [--role api|forecast-worker] [--env K=V]... [--label K=V]... [--health-timeout MS]
  cli.js rm --name NAME
  cli.js logs --name NAME [--tail N]
environment: DOCKER_HOST (unix:///path.sock or tcp://host:port); for run: DATABASE_URL, REDIS_URL`;

function pairs(values: string[] | undefined, what: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const v of values ?? []) {
    const i = v.indexOf('=');
    if (i <= 0) throw new UsageError(`--${what} expects KEY=VALUE, got '${v}'`);
    out[v.slice(0, i)] = v.slice(i + 1);
  }
  return out;
}

class UsageError extends Error {}

function required(value: string | undefined, flag: string): string {
  if (!value) throw new UsageError(`missing --${flag}`);
  return value;
}

export async function runCli(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  if (command === undefined || command === 'help' || command === '--help' || command === '-h') {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const { values } = parseArgs({
    args: rest,
    options: {
      name: { type: 'string' },
      port: { type: 'string' },
      image: { type: 'string' },
      role: { type: 'string' },
      env: { type: 'string', multiple: true },
      label: { type: 'string', multiple: true },
      'health-timeout': { type: 'string' },
      tail: { type: 'string' },
      force: { type: 'boolean' },
    },
    strict: true,
  });
  const docker = dockerFromEnv();

  switch (command) {
    case 'build-image': {
      const started = Date.now();
      const tag = await buildSandboxImage(docker, {
        force: values.force,
        onProgress: (line) => process.stderr.write(`${line}\n`),
      });
      process.stderr.write(`done in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
      process.stdout.write(`${tag}\n`);
      return;
    }
    case 'run': {
      const name = required(values.name, 'name');
      const port = Number(required(values.port, 'port'));
      if (!Number.isInteger(port) || port < 1 || port > 65535)
        throw new UsageError(`--port must be 1..65535`);
      const role = (values.role ?? 'api') as SandboxRole;
      if (role !== 'api' && role !== 'forecast-worker')
        throw new UsageError(`--role must be api or forecast-worker`);
      const env: Record<string, string | undefined> = {};
      for (const k of FORWARDED_ENV) if (process.env[k] !== undefined) env[k] = process.env[k];
      Object.assign(env, pairs(values.env, 'env'));
      if (!env.DATABASE_URL || !env.REDIS_URL) throw new UsageError('DATABASE_URL and REDIS_URL must be set');
      const healthTimeoutMs = values['health-timeout'] ? Number(values['health-timeout']) : undefined;
      await runSandboxContainer(docker, {
        name,
        port,
        role,
        image: required(values.image, 'image'),
        env,
        labels: pairs(values.label, 'label'),
        healthTimeoutMs,
      });
      process.stdout.write(
        `${JSON.stringify({ name, port, role, image: values.image, url: `http://127.0.0.1:${port}` })}\n`,
      );
      return;
    }
    case 'rm':
      await removeSandboxContainer(docker, required(values.name, 'name'));
      return;
    case 'logs': {
      const lines = await sandboxContainerLogs(
        docker,
        required(values.name, 'name'),
        Number(values.tail ?? 100),
      );
      process.stdout.write(lines.map((l) => `${l}\n`).join(''));
      return;
    }
    default:
      throw new UsageError(`unknown command '${command}'`);
  }
}

if (require.main === module) {
  runCli(process.argv.slice(2)).catch((err: unknown) => {
    if (err instanceof UsageError || (err as { code?: unknown }).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
      process.stderr.write(`${(err as Error).message}\n${USAGE}\n`);
      process.exit(2);
    }
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
