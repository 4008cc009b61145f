/**
 * What the cluster tests share: scripts/cluster.sh (node loss and restarts by recorded pid), a
 * signal sent with one request id however often it is retried (the server records it once), and
 * the figures they measure (printed, and written to test-artifacts/cluster-results.json).
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Client } from '@temporalio/client';
import { encodeToPayloads } from '@temporalio/common/lib/internal-non-workflow';
import { need } from '../../rig/env';

const run = promisify(execFile);
const repo = path.join(__dirname, '../..');
const script = path.join(repo, 'scripts/cluster.sh');

export type Node = 'a' | 'b';

/** Runs `scripts/cluster.sh ARGS` against the cluster the env names (CLUSTER_DIR); returns stdout. */
export async function clusterSh(...args: string[]): Promise<string> {
  const { stdout } = await run('bash', [script, ...args], {
    env: { ...process.env, CLUSTER_DIR: need('CLUSTER_DIR') },
    timeout: 180_000,
    maxBuffer: 4 * 1024 * 1024,
  });
  return stdout;
}

/** The node that owns the history shard of a workflow (the one whose loss hurts it). */
export async function ownerOf(workflowId: string): Promise<{ node: Node; shard: number }> {
  const [node, shard] = (await clusterSh('owner', workflowId)).trim().split(/\s+/);
  return { node: node as Node, shard: Number(shard) };
}

/** kill -9 of a node by its recorded pid; returns the moment it was dead. */
export async function killNode(node: Node): Promise<{ pid: number; at: number }> {
  const out = await clusterSh('kill-node', node);
  const m = /pid (\d+) at (\d+)/.exec(out);
  if (!m) throw new Error(`unexpected kill-node output: ${out}`);
  return { pid: Number(m[1]), at: Number(m[2]) };
}

/** The node pids as the script recorded them (from `cluster.sh env`). */
export async function nodePids(): Promise<Record<Node, number | undefined>> {
  const out = await clusterSh('env');
  const pid = (n: string) => {
    const v = new RegExp(`^export CLUSTER_NODE_${n}_PID=(\\d*)$`, 'm').exec(out)?.[1];
    return v ? Number(v) : undefined;
  };
  return { a: pid('A'), b: pid('B') };
}

/** Shard owners: which node holds how many history shards (both, once the ring has formed). */
export async function shardOwners(): Promise<Record<Node, number>> {
  const out = await clusterSh('shards');
  const counts: Record<Node, number> = { a: 0, b: 0 };
  for (const line of out.trim().split('\n')) {
    const owner = line.split(/\s+/)[1] as Node;
    if (owner in counts) counts[owner]++;
  }
  return counts;
}

/**
 * Sends a signal with ONE request id, retried until the server accepts it. A retry after an
 * ambiguous failure (the node died after writing it) is recognised by the id and not recorded again.
 */
export async function signalOnce(
  client: Client,
  workflowId: string,
  signalName: string,
  arg: unknown,
  timeoutMs = 120_000,
): Promise<{ acceptedAt: number; tries: number; errors: string[] }> {
  const requestId = randomUUID();
  const input = { payloads: await encodeToPayloads(client.options.loadedDataConverter, arg) };
  const deadline = Date.now() + timeoutMs;
  const errors: string[] = [];
  for (let tries = 1; ; tries++) {
    try {
      await client.workflowService.signalWorkflowExecution({
        namespace: client.options.namespace,
        workflowExecution: { workflowId },
        signalName,
        input,
        identity: 'cluster test',
        requestId,
      });
      return { acceptedAt: Date.now(), tries, errors };
    } catch (err) {
      errors.push((err as Error).message.slice(0, 200));
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

const resultsFile = path.join(repo, 'test-artifacts/cluster-results.json');

/** Adds one test's figures to test-artifacts/cluster-results.json and prints them. */
export function recordResults(name: string, figures: Record<string, unknown>): void {
  mkdirSync(path.dirname(resultsFile), { recursive: true });
  let all: Record<string, unknown> = {};
  try {
    all = JSON.parse(readFileSync(resultsFile, 'utf8')) as Record<string, unknown>;
  } catch {
    all = {};
  }
  all[name] = { ...figures, at: new Date().toISOString() };
  writeFileSync(resultsFile, JSON.stringify(all, null, 2) + '\n');
  console.log(`[cluster] ${name}: ${JSON.stringify(figures)}`);
}
