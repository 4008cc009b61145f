/**
 * The release replay gate (issue 22): a build may be promoted or ramped only when its workflow code
 * replays every recorded history (test/fixtures/histories, re-recorded where a runbook changed on
 * purpose) and every history exported from the running namespace that it may have to continue,
 * without nondeterminism. An exported history pinned to another build is not replayed: that
 * workflow finishes on its own build (Worker Versioning), whatever the new code does.
 */
import path from 'node:path';
import {
  bundleWorkflowCode,
  Worker,
  type WorkflowBundleOption,
  type WorkflowBundleWithSourceMap,
} from '@temporalio/worker';
import type { DataConverter } from '@temporalio/common';
import { createIncidentMetrics, incidentMetricsSinks } from '../../worker/metrics';
import { pinnedBuild, readHistories, type HistoryFile } from './histories';

export interface GateInput {
  /** The build being released (its pinned histories are replayed; other builds' are not). */
  buildId: string;
  /** Its workflow code: a bundle file (bundleWorkflowCode's code) or a workflows folder/index. */
  workflowBundle?: string;
  workflowsPath?: string;
  /** Recorded histories (replayed whatever their build) and exported ones (pinned ones skipped). */
  fixtureDirs: string[];
  exportedDirs: string[];
  dataConverter?: DataConverter;
}

export interface GateResult {
  passed: boolean;
  replayed: string[];
  skipped: { file: string; pinnedTo: string }[];
  failures: { file: string; error: string }[];
}

const quiet = {
  log: () => undefined,
  trace: () => undefined,
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
};

/** The workflows at `workflowsPath` bundled for replay, without the bundler's progress lines. */
export function bundleQuietly(workflowsPath: string): Promise<WorkflowBundleWithSourceMap> {
  return bundleWorkflowCode({ workflowsPath, logger: quiet });
}

async function bundleOf(input: GateInput): Promise<WorkflowBundleOption> {
  if (input.workflowBundle) return { codePath: path.resolve(input.workflowBundle) };
  if (!input.workflowsPath)
    throw new Error("the gate needs the build's workflow code (a bundle or workflows path)");
  return bundleQuietly(input.workflowsPath);
}

/** The core's reason ("[TMPRL1100] Nondeterminism error: ...") without the SDK's wrapping. */
function shortReason(message: string): string {
  const core = /\[TMPRL\d+\][^"]*/.exec(message);
  return core ? core[0] : message.split('\n')[0];
}

export async function runReplayGate(input: GateInput): Promise<GateResult> {
  const fixtures = readHistories(input.fixtureDirs);
  const exported = readHistories(input.exportedDirs);
  const skipped: GateResult['skipped'] = [];
  const toReplay: HistoryFile[] = [...fixtures];
  for (const h of exported) {
    const pinnedTo = pinnedBuild(h.history);
    if (pinnedTo && pinnedTo !== input.buildId) skipped.push({ file: h.file, pinnedTo });
    else toReplay.push(h);
  }
  const failures: GateResult['failures'] = [];
  const replayed: string[] = [];
  if (toReplay.length) {
    const byId = new Map(toReplay.map((h, i) => [`${i}:${h.workflowId}`, h.file]));
    const results = Worker.runReplayHistories(
      {
        workflowBundle: await bundleOf(input),
        sinks: incidentMetricsSinks(createIncidentMetrics()),
        dataConverter: input.dataConverter,
        replayName: `gate-${input.buildId}`,
      },
      toReplay.map((h, i) => ({ history: h.history, workflowId: `${i}:${h.workflowId}` })),
    );
    for await (const r of results) {
      const file = byId.get(r.workflowId) ?? r.workflowId;
      if (r.error) failures.push({ file, error: `${r.error.name}: ${shortReason(r.error.message)}` });
      else replayed.push(file);
    }
  }
  return { passed: failures.length === 0, replayed, skipped, failures };
}

/** What the gate says, for a person: why a release was refused, or what it checked. */
export function describeGate(buildId: string, g: GateResult): string {
  const lines = g.passed
    ? [`replay gate passed: build ${buildId} replays ${g.replayed.length} histories without nondeterminism`]
    : [
        `replay gate FAILED: build ${buildId} does not replay ${g.failures.length} of ${g.failures.length + g.replayed.length} histories; release refused`,
        ...g.failures.map((f) => `  ${path.basename(f.file)}: ${f.error}`),
        'Fix the change (or put it behind patched() for workflows that are not pinned), or re-record the',
        'fixtures of a runbook changed on purpose (scripts/record-histories.ts; docs/runbook-changes.md).',
      ];
  if (g.skipped.length)
    lines.push(
      `not replayed: ${g.skipped.length} open workflows pinned to other builds (they finish there): ` +
        [...new Set(g.skipped.map((s) => s.pinnedTo))].join(', '),
    );
  return lines.join('\n');
}
