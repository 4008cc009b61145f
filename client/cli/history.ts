/** `runbooks history`: the incident's timeline from its workflow history (client/timeline.ts). */
import { formatTimeline, timelineFromHistory } from '../timeline';
import { notFound, withClient, type Cli } from './common';

export function historyCommand({ program, print }: Cli): void {
  program
    .command('history')
    .description(
      "the incident's timeline from its workflow history (steps, timers, signals, approvals, outcome)",
    )
    .argument('<workflowId>', 'the incident workflow ID')
    .option('--limit <n>', 'only the last n entries')
    .action(async (workflowId: string, o: { limit?: string }) => {
      await withClient(async (client) => {
        const history = await client.workflow
          .getHandle(workflowId)
          .fetchHistory()
          .catch(notFound(workflowId));
        let entries = timelineFromHistory(history);
        if (o.limit) entries = entries.slice(-Math.max(1, Number(o.limit) || 1));
        print(
          `${formatTimeline(entries)}\n\nCurrent state: runbooks status ${workflowId}; full report: runbooks report ${workflowId}`,
          { workflowId, entries },
        );
      });
    });
}
