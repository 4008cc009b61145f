/** `runbooks report`: an incident's Markdown report (and timeline picture) from its history. */
import { WorkflowNotFoundError } from '@temporalio/common';
import { ConfigError } from '../../config/errors';
import { runReportCommand } from '../report';
import { CliError, notFound, type Cli, type GlobalOpts } from './common';

export function reportCommand({ program, print, out }: Cli): void {
  program
    .command('report')
    .description(
      "an incident's Markdown report from its workflow history (steps, escalations, approval attempts, MTTR, evidence)",
    )
    .argument('[workflowId]', 'the incident workflow ID (not needed with --from-file)')
    .option('--out <file>', 'write the Markdown to this file instead of stdout')
    .option('--from-file <history.json>', 'a history exported as JSON from the Temporal UI or CLI')
    .option('--run-id <runId>', 'a specific run (default: the latest)')
    .option('--svg <file>', 'also write the timeline picture (steps, waits, escalations, MTTR target) as SVG')
    .addHelpText(
      'after',
      '\nExamples:\n  runbooks report incident-P0-1-accubooks-api --out report.md --svg report.svg\n' +
        '  temporal workflow show -w <id> --output json > h.json && runbooks report --from-file h.json',
    )
    .action(
      async (
        workflowId: string | undefined,
        o: { out?: string; fromFile?: string; runId?: string; svg?: string },
      ) => {
        if (!workflowId && !o.fromFile) {
          throw new CliError(
            'Give the incident workflow ID (see: runbooks list --all), or a history file: --from-file history.json',
            2,
          );
        }
        let markdown: string;
        try {
          markdown = await runReportCommand(workflowId, {
            fromFile: o.fromFile,
            out: o.out,
            runId: o.runId,
            svg: o.svg,
          });
        } catch (err) {
          if (err instanceof ConfigError) throw err;
          const message = (err as Error).message;
          const badPath = (err as NodeJS.ErrnoException).path;
          if (badPath && (badPath === o.out || badPath === o.svg)) {
            throw new CliError(`Cannot write ${badPath}: ${message}`, 1);
          }
          if (o.fromFile && /ENOENT|no such file/i.test(message)) {
            throw new CliError(
              `Cannot read ${o.fromFile}: no such file. Export one with: temporal workflow show -w <id> --output json`,
              1,
            );
          }
          if (!o.fromFile && (err instanceof WorkflowNotFoundError || /not found/i.test(message))) {
            notFound(workflowId!)(err);
          }
          throw new CliError(
            `Could not render the report${workflowId ? ` for ${workflowId}` : ''}: ${message}` +
              (o.fromFile ? '\nIs the file a workflow history exported as JSON?' : ''),
          );
        }
        const data = {
          workflowId: workflowId ?? null,
          fromFile: o.fromFile ?? null,
          out: o.out ?? null,
          svg: o.svg ?? null,
          markdown,
        };
        if (o.out) print(`Report written to ${o.out}${o.svg ? `, timeline picture to ${o.svg}` : ''}`, data);
        else if (program.opts<GlobalOpts>().json) print('', data);
        else out(markdown.endsWith('\n') ? markdown : `${markdown}\n`);
      },
    );
}
