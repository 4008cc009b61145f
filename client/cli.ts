#!/usr/bin/env node
/**
 * The operator CLI: start, find, inspect, approve and close incidents from a terminal.
 * Every subcommand has --help; --json prints machine-readable output (errors too, on stderr);
 * failures exit non-zero with a message that says what to do next.
 *
 * Exit codes: 0 done; 1 failed (Temporal unreachable, incident not found, ...); 2 usage or config
 * error; 3 the workflow refused (an approval with a wrong code, a close it did not accept).
 *
 * This file assembles the program; each command group lives in client/cli/.
 */
import { Command, CommanderError, Option } from 'commander';
import { ConfigError } from '../config/errors';
import { approvalCommands } from './cli/approve';
import { chargesCommands } from './cli/charges';
import { CliError, type Cli, type GlobalOpts } from './cli/common';
import { exportHistoriesCommand } from './cli/export-histories';
import { followUpCommands } from './cli/follow-up';
import { gameDayCommands } from './cli/game-day';
import { historyCommand } from './cli/history';
import { listCommand } from './cli/list';
import { releaseCommands } from './cli/release';
import { rehearseCommand } from './cli/rehearse';
import { reportCommand } from './cli/report';
import { resolveAbandonCommands } from './cli/resolve-abandon';
import { statusCommand } from './cli/status';
import { triggerCommand } from './cli/trigger';

export function buildCli(io: { out?: (s: string) => void } = {}): Command {
  const out = io.out ?? ((s: string) => process.stdout.write(s));
  const program = new Command('runbooks')
    .description(
      'AccuBooks incident runbooks (Temporal). Connection from TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_TASK_QUEUE (and TLS/API key variables).',
    )
    .addOption(new Option('--json', 'machine-readable JSON output'))
    .showHelpAfterError('(add --help for usage)')
    .exitOverride();
  const print = (human: string, data: unknown) =>
    out((program.opts<GlobalOpts>().json ? JSON.stringify(data, null, 2) : human) + '\n');
  const cli: Cli = { program, out, print };
  // In this order in --help.
  for (const add of [
    triggerCommand,
    rehearseCommand,
    listCommand,
    statusCommand,
    approvalCommands,
    resolveAbandonCommands,
    chargesCommands,
    historyCommand,
    reportCommand,
    followUpCommands,
    gameDayCommands,
    releaseCommands,
    exportHistoriesCommand,
  ])
    add(cli);
  return program;
}

export async function runCli(
  argv: string[],
  io: { out?: (s: string) => void; err?: (s: string) => void } = {},
) {
  const err = io.err ?? ((s: string) => process.stderr.write(s));
  const program = buildCli(io);
  program.configureOutput({
    writeErr: (s) => err(s),
    writeOut: (s) => (io.out ?? process.stdout.write.bind(process.stdout))(s),
  });
  const json = argv.includes('--json');
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      // --help and --version exit 0; usage errors were already printed by commander.
      return e.exitCode === 0 ? 0 : 2;
    }
    const code = e instanceof CliError ? e.code : e instanceof ConfigError ? 2 : 1;
    const message = (e as Error).message;
    err(
      json
        ? `${JSON.stringify({ error: message, exitCode: code, ...(e instanceof CliError ? e.data : {}) })}\n`
        : `error: ${message}\n`,
    );
    return code;
  }
}

if (require.main === module) {
  void runCli(process.argv).then((code) => {
    process.exitCode = code;
  });
}
