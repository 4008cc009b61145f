#!/usr/bin/env node
/**
 * The image's entry point (the Dockerfile's ENTRYPOINT): the first argument names the program
 * (image/commands.ts), the rest go to it. The program runs in this very process, which is the
 * container's PID 1: `docker stop`'s SIGTERM reaches the program's own handler (the worker drains,
 * the servers close), and the health check finds the command in /proc/1/cmdline.
 */
import { IMAGE_COMMANDS, usage } from './commands';

async function main(argv: string[]): Promise<number> {
  const [name, ...args] = argv;
  if (name === undefined || name === 'help' || name === '--help' || name === '-h') {
    process.stdout.write(usage());
    return name === undefined ? 2 : 0;
  }
  const command = IMAGE_COMMANDS[name];
  if (!command) {
    process.stderr.write(`unknown command '${name}'\n${usage()}`);
    return 2;
  }
  return command.run(args);
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(
        `${process.argv[2] ?? 'entrypoint'} failed: ${err instanceof Error ? err.message : String(err)}\n`,
      );
      process.exit(1);
    },
  );
}
