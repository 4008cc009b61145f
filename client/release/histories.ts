/**
 * Histories for the release replay gate: exported from the running namespace (`runbooks
 * export-histories`) and read back from folders (the exported ones, test/fixtures/histories).
 * Files are the proto JSON `temporal workflow show --output json` writes, one history per file.
 */
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import { historyFromJson, historyToJson, type History } from '../../common/report/proto-json';

export interface HistoryFile {
  file: string;
  workflowId: string;
  history: History;
}

/** Open workflows on the task queue: what a new build may have to continue. */
export const openOnQueueQuery = (taskQueue: string) =>
  `ExecutionStatus = 'Running' AND TaskQueue = '${taskQueue.replace(/'/g, "\\'")}'`;

const safeName = (s: string) => s.replace(/[^A-Za-z0-9_.-]/g, '_');

/** Writes the history of every workflow the query finds (at most `limit`) to `dir`; returns the files. */
export async function exportHistories(
  client: Client,
  dir: string,
  opts: { query: string; limit: number },
): Promise<string[]> {
  mkdirSync(dir, { recursive: true });
  const files: string[] = [];
  for await (const wf of client.workflow.list({ query: opts.query })) {
    if (files.length >= opts.limit) break;
    const history = await client.workflow.getHandle(wf.workflowId, wf.runId).fetchHistory();
    const file = path.join(dir, `${safeName(wf.workflowId)}--${safeName(wf.runId)}.json`);
    writeFileSync(file, historyToJson(history));
    files.push(file);
  }
  return files;
}

/** Every *.json history in the folders, in name order per folder. */
export function readHistories(dirs: string[]): HistoryFile[] {
  return dirs.flatMap((dir) =>
    readdirSync(dir)
      .filter((f) => f.endsWith('.json'))
      .sort()
      .map((f) => {
        const file = path.join(dir, f);
        let history: History;
        try {
          history = historyFromJson(JSON.parse(readFileSync(file, 'utf8')));
        } catch (err) {
          throw new Error(`${file} is not a workflow history (JSON): ${(err as Error).message}`);
        }
        return { file, workflowId: path.basename(f, '.json'), history };
      }),
  );
}

const PINNED = 1; // temporal.api.enums.v1.VersioningBehavior.VERSIONING_BEHAVIOR_PINNED

/**
 * The build a history's workflow is pinned to (from its last completed workflow task), or
 * undefined when it is unversioned or AUTO_UPGRADE: then any new current build continues it.
 */
export function pinnedBuild(history: History): string | undefined {
  const events = history.events ?? [];
  for (let i = events.length - 1; i >= 0; i--) {
    const done = events[i].workflowTaskCompletedEventAttributes;
    if (!done) continue;
    const behavior = Number(done.versioningBehavior ?? 0);
    return behavior === PINNED ? (done.deploymentVersion?.buildId ?? undefined) : undefined;
  }
  return undefined;
}

/** The builds that completed the history's workflow tasks, in order of first use. */
export function buildsOf(history: History): string[] {
  const builds: string[] = [];
  for (const e of history.events ?? []) {
    const done = e.workflowTaskCompletedEventAttributes;
    const build = done?.deploymentVersion?.buildId ?? done?.workerVersion?.buildId;
    if (build && !builds.includes(build)) builds.push(build);
  }
  return builds;
}
