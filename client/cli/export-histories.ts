/** `runbooks export-histories`: workflow histories of the running namespace as JSON files (the replay gate reads them). */
import { exportHistories, openOnQueueQuery } from '../release/histories';
import { CliError, withClient, type Cli } from './common';

export function exportHistoriesCommand({ program, print }: Cli): void {
  program
    .command('export-histories')
    .description(
      'write the histories of workflows of the namespace to a folder (default: open ones on the task queue)',
    )
    .argument('<dir>', 'the folder (created when missing)')
    .option(
      '--query <visibility query>',
      "which workflows (default: ExecutionStatus = 'Running' on TEMPORAL_TASK_QUEUE)",
    )
    .option('--limit <n>', 'at most this many', '1000')
    .action(async (dir: string, o: { query?: string; limit: string }) => {
      const limit = Number(o.limit);
      if (!Number.isInteger(limit) || limit < 1)
        throw new CliError(`--limit: "${o.limit}" is not a whole number >= 1`, 2);
      await withClient(async (client, taskQueue) => {
        const files = await exportHistories(client, dir, {
          query: o.query ?? openOnQueueQuery(taskQueue),
          limit,
        });
        print(`exported ${files.length} histories to ${dir}`, { dir, files });
      });
    });
}
