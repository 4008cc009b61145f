/**
 * What the UI reads, polled from the dev server: the built-in `__temporal_workflow_metadata` query
 * (temporal.api.sdk.v1.WorkflowMetadata: the current details and the handlers' definitions) and
 * list queries over the incident search attributes (visibility is eventually consistent).
 */
import type { Client, WorkflowHandle } from '@temporalio/client';
import type { temporal } from '@temporalio/proto';

type WorkflowMetadata = temporal.api.sdk.v1.IWorkflowMetadata;

export async function workflowMetadata(handle: WorkflowHandle): Promise<WorkflowMetadata> {
  return handle.query<WorkflowMetadata>('__temporal_workflow_metadata');
}

export async function currentDetails(handle: WorkflowHandle): Promise<string> {
  return (await workflowMetadata(handle)).currentDetails ?? '';
}

/**
 * Records every distinct current-details text while the incident runs, so a short stage (a
 * restart, a refund) is seen even when the test cannot stop the workflow there.
 */
export function watchDetails(
  handle: WorkflowHandle,
  everyMs = 100,
): { seen: string[]; stop(): Promise<void> } {
  const seen: string[] = [];
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      try {
        const d = await currentDetails(handle);
        if (d && seen.at(-1) !== d) seen.push(d);
      } catch {
        // A query may fail while the worker restarts a task; the next poll tries again.
      }
      await new Promise((r) => setTimeout(r, everyMs));
    }
  })();
  return {
    seen,
    async stop() {
      stopped = true;
      await loop;
    },
  };
}

/** Workflow IDs a visibility query returns (all pages). */
export async function listIds(client: Client, query: string): Promise<string[]> {
  const ids: string[] = [];
  for await (const w of client.workflow.list({ query })) ids.push(w.workflowId);
  return ids;
}

/** Polls a list query until `ok(ids)` holds (visibility lags the workflow by a moment). */
export async function untilListed(
  client: Client,
  query: string,
  ok: (ids: string[]) => boolean,
  timeoutMs = 20_000,
): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ids = await listIds(client, query);
    if (ok(ids)) return ids;
    if (Date.now() > deadline)
      throw new Error(`list query did not settle in ${timeoutMs} ms: ${query} → [${ids.join(', ')}]`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Ends whatever still runs for a test's target (the post-incident follow-ups outlive the incidents). */
export async function terminateRunning(client: Client, target: string): Promise<void> {
  const ids = await listIds(client, `TargetService = "${target}" AND ExecutionStatus = "Running"`);
  await Promise.all(
    ids.map((id) =>
      client.workflow
        .getHandle(id)
        .terminate('test done')
        .catch(() => undefined),
    ),
  );
}
