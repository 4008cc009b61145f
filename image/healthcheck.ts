#!/usr/bin/env node
/**
 * The image's HEALTHCHECK: asks the health endpoint of the program the container runs. Which program
 * that is comes from PID 1's command line (`node …/image/entrypoint.js <command>`, image/entrypoint.ts),
 * or from the first argument (`--health-cmd 'node /app/dist/image/healthcheck.js intake'`). Exit 0 =
 * healthy; 1 = not, with the reason on stdout (Docker keeps it in `docker inspect`'s health log).
 * A one-shot command (the CLI) is healthy while it runs.
 */
import { readFileSync } from 'node:fs';
import { IMAGE_COMMANDS } from './commands';

/** The command after the entry point's script on a NUL-separated command line. */
export function commandFromCmdline(cmdline: string): string | undefined {
  const args = cmdline.split('\0');
  const at = args.findIndex((a) => a.endsWith('image/entrypoint.js'));
  return at >= 0 ? args[at + 1] || 'worker' : undefined;
}

async function check(name: string | undefined): Promise<string> {
  const command = name === undefined ? undefined : IMAGE_COMMANDS[name];
  if (!command) throw new Error(`cannot tell which program runs (command '${name ?? 'none'}')`);
  if (!command.healthUrl) return `${name}: one-shot command, nothing to probe`;
  const url = await command.healthUrl(process.env);
  const res = await fetch(url, { signal: AbortSignal.timeout(4000) });
  const body = (await res.text()).slice(0, 300);
  if (res.status !== 200) throw new Error(`${name}: ${url} answered ${res.status} ${body}`);
  return `${name}: ${url} 200 ${body}`;
}

if (require.main === module) {
  const name =
    process.argv[2] ?? commandFromCmdline(readFileSync('/proc/1/cmdline', 'utf8').replace(/\0$/, ''));
  check(name).then(
    (line) => process.stdout.write(`${line}\n`),
    (err: unknown) => {
      process.stdout.write(`unhealthy: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(1);
    },
  );
}
