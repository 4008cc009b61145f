/**
 * What `runbooks release` does, apart from its command line (client/cli/release.ts): the gated
 * promote and ramp, the rollback, and the status with each build's open workflows.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import type { DataConverter } from '@temporalio/common';
import { defaultBuildId, packageRoot } from '../../config/versioning';
import {
  describeDeployment,
  openOnVersion,
  setCurrentVersion,
  setRampingVersion,
  type Deployment,
} from '../deployment';
import { exportHistories, openOnQueueQuery } from './histories';
import { describeGate, runReplayGate, type GateResult } from './replay-gate';

export interface ReleaseTarget {
  deployment: string;
  buildId: string;
  /** The build's workflow bundle; without it, the workflow code of this checkout (must be that build). */
  workflowBundle?: string;
  /** Recorded histories (default test/fixtures/histories of this checkout). */
  fixtureDirs?: string[];
  /** Folders of histories exported earlier (`runbooks export-histories`), replayed too. */
  historyDirs?: string[];
  taskQueue: string;
  dataConverter?: DataConverter;
  identity: string;
}

export class ReleaseRefused extends Error {
  constructor(
    message: string,
    readonly gate?: GateResult,
  ) {
    super(message);
  }
}

export const DEFAULT_FIXTURES = path.join(packageRoot, 'test/fixtures/histories');
const OWN_WORKFLOWS = require.resolve('../../workflows');

/** Exports the queue's open workflows and replays them, with the recorded ones, on the build's code. */
export async function gate(client: Client, t: ReleaseTarget): Promise<GateResult> {
  if (!t.workflowBundle && t.buildId !== defaultBuildId()) {
    throw new ReleaseRefused(
      `build ${t.buildId} is not this checkout's code (this checkout is ${defaultBuildId()}): run the release ` +
        `from that build's checkout, or pass its workflow bundle with --workflow-bundle`,
    );
  }
  const fixtureDirs = t.fixtureDirs ?? (existsSync(DEFAULT_FIXTURES) ? [DEFAULT_FIXTURES] : []);
  const live = mkdtempSync(path.join(tmpdir(), 'runbooks-gate-'));
  try {
    await exportHistories(client, live, { query: openOnQueueQuery(t.taskQueue), limit: 1000 });
    return await runReplayGate({
      buildId: t.buildId,
      workflowBundle: t.workflowBundle,
      workflowsPath: t.workflowBundle ? undefined : OWN_WORKFLOWS,
      fixtureDirs,
      exportedDirs: [live, ...(t.historyDirs ?? [])],
      dataConverter: t.dataConverter,
    });
  } finally {
    rmSync(live, { recursive: true, force: true });
  }
}

async function gated(client: Client, t: ReleaseTarget): Promise<string> {
  const result = await gate(client, t);
  const text = describeGate(t.buildId, result);
  if (!result.passed) throw new ReleaseRefused(text, result);
  return text;
}

/** Makes the build current for every new incident, once it passes the replay gate. */
export async function promote(client: Client, t: ReleaseTarget): Promise<string> {
  const text = await gated(client, t);
  const before = await describeDeployment(client, t.deployment);
  await setCurrentVersion(client, t.deployment, t.buildId, t.identity);
  const previous = before?.current && before.current !== t.buildId ? before.current : undefined;
  return `${text}\nbuild ${t.buildId} is now current${previous ? `; ${previous} drains (its open incidents finish on it)` : ''}`;
}

/** Sends `percentage` % of new incidents to the build (gated); 0 ends the ramp. */
export async function ramp(client: Client, t: ReleaseTarget, percentage: number): Promise<string> {
  if (percentage === 0) {
    await setRampingVersion(client, t.deployment, '', 0, t.identity);
    return 'ramp ended: every new incident goes to the current build';
  }
  const text = await gated(client, t);
  await setRampingVersion(client, t.deployment, t.buildId, percentage, t.identity);
  return `${text}\nbuild ${t.buildId} now takes ${percentage}% of new incidents`;
}

/**
 * Ends a ramp, or makes `to` (default: the build that was current last before this one) current
 * again. No gate: the build it goes back to ran these runbooks already, and what moved on to the
 * newer build (guard, follow-up) changes only behind patched().
 */
export async function rollback(
  client: Client,
  deployment: string,
  identity: string,
  to?: string,
): Promise<string> {
  const d = await describeDeployment(client, deployment);
  if (!d) throw new ReleaseRefused(`no Worker Deployment "${deployment}" (no versioned worker has polled)`);
  if (d.ramping && !to) {
    await setRampingVersion(client, deployment, '', 0, identity);
    return `ramp of ${d.ramping.buildId} ended: every new incident goes to ${d.current ?? 'unversioned workers'}`;
  }
  const previous =
    to ??
    d.versions
      .filter((v) => v.buildId !== d.current && v.lastCurrentTime)
      .sort((a, b) => b.lastCurrentTime!.getTime() - a.lastCurrentTime!.getTime())[0]?.buildId;
  if (!previous)
    throw new ReleaseRefused(
      `nothing to roll back to: no build of ${deployment} was current before ${d.current}`,
    );
  await setCurrentVersion(client, deployment, previous, identity);
  return `build ${previous} is current again; ${d.current} drains (its open incidents finish on it)`;
}

export interface VersionStatusRow {
  buildId: string;
  status: string;
  open: number;
  drainage?: string;
}

export async function releaseStatus(
  client: Client,
  deployment: string,
): Promise<{ deployment?: Deployment; rows: VersionStatusRow[] }> {
  const d = await describeDeployment(client, deployment);
  if (!d) return { rows: [] };
  const rows = await Promise.all(
    d.versions.map(async (v) => ({
      buildId: v.buildId,
      status: v.status,
      open: await openOnVersion(client, deployment, v.buildId),
      drainage: v.drainage,
    })),
  );
  return { deployment: d, rows };
}
