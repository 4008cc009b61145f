/**
 * What every command of the operator CLI (client/cli.ts) shares: its error with an exit code, the
 * Temporal connection, the "not found" advice, the output (human text or --json), table formatting.
 */
import { WorkflowNotFoundError } from '@temporalio/common';
import type { Client } from '@temporalio/client';
import type { Command } from 'commander';
import { loadTemporalConfig } from '../../config/temporal';
import { connectClient } from '../connection';

export class CliError extends Error {
  constructor(
    message: string,
    readonly code = 1,
    readonly data?: Record<string, unknown>,
  ) {
    super(message);
  }
}

export interface GlobalOpts {
  json?: boolean;
}

/** The program the commands are added to, and its output. */
export interface Cli {
  program: Command;
  /** Writes as it is (the report's Markdown). */
  out: (s: string) => void;
  /** The human text, or with --json the data as JSON; one line. */
  print: (human: string, data: unknown) => void;
}

export async function withClient<T>(fn: (client: Client, taskQueue: string) => Promise<T>): Promise<T> {
  const cfg = loadTemporalConfig();
  let client: Client;
  try {
    client = await connectClient(cfg);
  } catch (err) {
    throw new CliError(
      `Cannot reach Temporal at ${cfg.address} (namespace ${cfg.namespace}): ${(err as Error).message}\n` +
        'Check TEMPORAL_ADDRESS, or start the local stack with scripts/demo.sh.',
    );
  }
  try {
    return await fn(client, cfg.taskQueue);
  } finally {
    await client.connection.close();
  }
}

/** Turns "workflow not found" into advice; every other error keeps its message. */
export function notFound(workflowId: string) {
  return (err: unknown): never => {
    if (err instanceof WorkflowNotFoundError || /not found/i.test((err as Error).message)) {
      throw new CliError(
        `No incident with workflow ID "${workflowId}". List open incidents with: runbooks list (closed ones: runbooks list --all)`,
      );
    }
    throw err;
  };
}

export const minutesAgo = (iso: string) => {
  const ms = Date.now() - Date.parse(iso);
  if (!Number.isFinite(ms)) return '?';
  if (ms < 60_000) return `${Math.round(ms / 1000)}s`;
  if (ms < 3_600_000) return `${Math.round(ms / 60_000)}m`;
  return `${(ms / 3_600_000).toFixed(1)}h`;
};

export function formatTable(header: string[], rows: string[][]): string[] {
  const table = [header, ...rows];
  const widths = header.map((_, i) => Math.max(...table.map((row) => row[i].length)));
  return table.map((row) =>
    row
      .map((c, i) => c.padEnd(widths[i]))
      .join('  ')
      .trimEnd(),
  );
}
