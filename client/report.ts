#!/usr/bin/env node
/**
 * The incident report command: reads an incident's workflow history and prints Markdown.
 *
 *   node dist/client/report.js <workflowId> [--run-id <id>] [--out report.md] [--svg report.svg]
 *   node dist/client/report.js --from-file history.json [--workflow-id <id>] [--out report.md]
 *
 * The file may be the Temporal UI's JSON download or `temporal workflow show -w <id> --output json`.
 */
import { writeFile } from 'node:fs/promises';
import { Command } from 'commander';
import { ConfigError } from '../config/errors';
import { loadTemporalConfig } from '../config/temporal';
import { connectClient } from './connection';
import {
  historyFromFile,
  loadIncidentModel,
  modelFromHistory,
  renderReport,
  timelineSvg,
  type ReportModel,
} from '../common/report/index';

export interface ReportCommandOptions {
  runId?: string;
  fromFile?: string;
  workflowId?: string;
  out?: string;
  /** Also write the timeline picture as SVG to this file. */
  svg?: string;
}

/** Renders the report for a workflow ID (through the client) or a history file; the CLI's `report` can call this. */
export async function runReportCommand(
  workflowId: string | undefined,
  opts: ReportCommandOptions,
): Promise<string> {
  let model: ReportModel;
  if (opts.fromFile) {
    model = modelFromHistory(await historyFromFile(opts.fromFile), {
      workflowId: workflowId ?? opts.workflowId,
    });
  } else {
    if (!workflowId) throw new Error('give a workflow ID, or --from-file <history.json>');
    const client = await connectClient(loadTemporalConfig());
    try {
      model = await loadIncidentModel(client, workflowId, { runId: opts.runId });
    } finally {
      await client.connection.close();
    }
  }
  // One "now" for both, so a running incident's picture and text agree.
  const now = new Date();
  const markdown = renderReport(model, { now });
  if (opts.svg) await writeFile(opts.svg, timelineSvg(model, { now }));
  if (opts.out) await writeFile(opts.out, markdown);
  return markdown;
}

async function main(argv: string[]): Promise<void> {
  const program = new Command()
    .name('report')
    .description("Render an incident's Markdown report from its workflow history")
    .argument('[workflowId]', 'the incident workflow ID (e.g. incident-P0-1-accubooks-api)')
    .option('--run-id <runId>', 'a specific run (default: the latest)')
    .option('--from-file <path>', 'a history exported as JSON from the Temporal UI or CLI')
    .option('--workflow-id <id>', 'the workflow ID to show when reading a file')
    .option('--out <path>', 'write the Markdown here instead of stdout')
    .option('--svg <path>', 'also write the timeline picture as SVG here')
    .action(async (workflowId: string | undefined, opts: ReportCommandOptions) => {
      const markdown = await runReportCommand(workflowId, opts);
      if (opts.svg) process.stderr.write(`timeline picture written to ${opts.svg}\n`);
      if (opts.out) process.stderr.write(`report written to ${opts.out}\n`);
      else process.stdout.write(markdown);
    });
  await program.parseAsync(argv);
}

if (require.main === module) {
  main(process.argv).catch((err: unknown) => {
    const message = err instanceof ConfigError || err instanceof Error ? err.message : String(err);
    process.stderr.write(`report: ${message}\n`);
    process.exit(1);
  });
}
