/**
 * History ⇄ proto JSON (the format of the Temporal UI's download and `temporal workflow show -o json`).
 *
 * The SDK's own `historyFromJSON` / `historyToJSON` (@temporalio/common/lib/proto-utils) fail with
 * "type must be a Type" when npm installs two copies of protobufjs (one under @temporalio/common,
 * one under @temporalio/proto), as this project's lockfile does. This module does the same
 * conversion with the protobufjs copy that @temporalio/proto itself uses, so it works either way.
 */
import path from 'node:path';
import type { temporal } from '@temporalio/proto';
import { patchProtobufRoot } from '@temporalio/proto/lib/patch-protobuf-root';

export type History = temporal.api.history.v1.IHistory;

interface ProtoType {
  fromObject(o: unknown): unknown;
}
interface ProtoJson {
  fromJson(type: ProtoType, json: unknown, opts?: { ignoreUnknownFields?: boolean }): unknown;
  toJson(type: ProtoType, message: unknown): unknown;
}

let cached: { protojson: ProtoJson; historyType: ProtoType } | undefined;

function load() {
  if (cached) return cached;
  const protoDir = path.dirname(require.resolve('@temporalio/proto/package.json'));
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const protojson = require(require.resolve('protobufjs/ext/protojson', { paths: [protoDir] })) as ProtoJson;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const root = patchProtobufRoot(require('@temporalio/proto') as Record<string, unknown>) as {
    lookupType(name: string): ProtoType;
  };
  cached = { protojson, historyType: root.lookupType('temporal.api.history.v1.History') };
  return cached;
}

type Json = Record<string, unknown>;

const constantCase = (s: string) => s.replace(/[^\b][A-Z]/g, (m) => `${m[0]}_${m[1]}`).toUpperCase();

function fixEnum(obj: Json, attr: string, prefix: string): Json {
  const v = obj[attr];
  return typeof v === 'string' ? { [attr]: v.startsWith(prefix) ? v : `${prefix}_${constantCase(v)}` } : {};
}

/** Older exports spell enums in PascalCase ("WorkflowExecutionStarted"): make them proto enum names. */
function fixEvent(e: Json): Json {
  const key = Object.keys(e).find((k) => k.endsWith('EventAttributes'));
  if (!key) throw new TypeError(`history event ${String(e.eventId)} has no attributes`);
  const attrs = e[key] as Json;
  const tq = attrs.taskQueue as Json | undefined;
  const childFailure = attrs.childWorkflowExecutionFailureInfo as Json | undefined;
  return {
    ...e,
    ...fixEnum(e, 'eventType', 'EVENT_TYPE'),
    [key]: {
      ...attrs,
      ...(tq && { taskQueue: { ...tq, ...fixEnum(tq, 'kind', 'TASK_QUEUE_KIND') } }),
      ...fixEnum(attrs, 'parentClosePolicy', 'PARENT_CLOSE_POLICY'),
      ...fixEnum(attrs, 'workflowIdReusePolicy', 'WORKFLOW_ID_REUSE_POLICY'),
      ...fixEnum(attrs, 'initiator', 'CONTINUE_AS_NEW_INITIATOR'),
      ...fixEnum(attrs, 'retryState', 'RETRY_STATE'),
      ...(childFailure && {
        childWorkflowExecutionFailureInfo: {
          ...childFailure,
          ...fixEnum(childFailure, 'retryState', 'RETRY_STATE'),
        },
      }),
    },
  };
}

export function historyFromJson(json: unknown): History {
  const events = (json as { events?: unknown })?.events;
  if (!Array.isArray(events)) throw new TypeError('not a workflow history: expected {"events": [...]}');
  const { protojson, historyType } = load();
  const loaded = protojson.fromJson(
    historyType,
    { events: events.map((e) => fixEvent(e as Json)) },
    {
      ignoreUnknownFields: true,
    },
  );
  if (!loaded) throw new TypeError('not a workflow history');
  return loaded;
}

export function historyToJson(history: History): string {
  const { protojson, historyType } = load();
  return JSON.stringify(protojson.toJson(historyType, historyType.fromObject(history)), null, 2);
}
