/**
 * Where a history comes from: the Temporal client (`handle.fetchHistory()`), or a JSON file exported
 * from the Temporal UI ("Download" → proto JSON `{ "events": [...] }`) or the CLI
 * (`temporal workflow show -w <id> --output json`, the same proto JSON with `EVENT_TYPE_…` names).
 */
import { readFile } from 'node:fs/promises';
import type { Client } from '@temporalio/client';
import { historyFromJson, type History } from './proto-json';

export type { History };

/** Parses an exported history: `{events: [...]}` (UI, CLI), a bare array of events, or JSON lines. */
export function parseHistoryJson(text: string): History {
  const trimmed = text.trim();
  let parsed: unknown;
  try {
    parsed = JSON.parse(trimmed);
  } catch {
    // `--output jsonl`: one event per line.
    try {
      parsed = {
        events: trimmed
          .split('\n')
          .filter(Boolean)
          .map((l) => JSON.parse(l) as unknown),
      };
    } catch {
      throw new Error('not a workflow history: expected JSON like {"events": [...]}');
    }
  }
  if (Array.isArray(parsed)) parsed = { events: parsed };
  const obj = parsed as { events?: unknown; history?: { events?: unknown } };
  if (!Array.isArray(obj?.events) && Array.isArray(obj?.history?.events)) parsed = obj.history;
  if (!Array.isArray((parsed as { events?: unknown })?.events)) {
    throw new Error('not a workflow history: expected JSON like {"events": [...]}');
  }
  return historyFromJson(parsed);
}

export async function historyFromFile(path: string): Promise<History> {
  return parseHistoryJson(await readFile(path, 'utf8'));
}

export async function fetchIncidentHistory(
  client: Client,
  workflowId: string,
  runId?: string,
): Promise<History> {
  return client.workflow.getHandle(workflowId, runId).fetchHistory();
}
