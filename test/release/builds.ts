/**
 * The builds the release proof deploys, made without touching the real runbooks: a copy of
 * workflows/ and definitions/ (inside the repo, so it resolves node_modules) with one file edited,
 * bundled to a file the worker loads with WORKER_WORKFLOW_BUNDLE.
 */
import { cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';
import { workflowsPath } from '../../rig/temporal';

const repo = path.resolve(__dirname, '../..');
const noop = () => undefined;
const quiet = { trace: noop, debug: noop, info: noop, log: noop, warn: noop, error: noop };

export interface Edit {
  file: string;
  edit: (source: string) => string;
}

/** Bundles the edited copy; returns the bundle file (removed by `cleanup`). */
export async function editedBundle(name: string, edits: Edit[]): Promise<{ file: string; cleanup(): void }> {
  const dir = path.join(repo, 'test-artifacts', `release-${name}-${process.pid}`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  cpSync(path.dirname(workflowsPath), path.join(dir, 'workflows'), { recursive: true });
  cpSync(path.join(repo, 'definitions'), path.join(dir, 'definitions'), { recursive: true });
  for (const { file, edit } of edits) {
    const f = path.join(dir, 'workflows', file);
    const before = readFileSync(f, 'utf8');
    const after = edit(before);
    if (after === before) throw new Error(`the ${name} edit of ${file} changed nothing (its marker moved?)`);
    writeFileSync(f, after);
  }
  const { code } = await bundleWorkflowCode({ workflowsPath: path.join(dir, 'workflows'), logger: quiet });
  const file = path.join(dir, 'bundle.js');
  writeFileSync(file, code);
  return { file, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** The step v2 adds to P0-4 and P1-3 before they act: look at the API first (a new activity in history). */
export const LOOK_FIRST_STEP = 'look-first';
const lookFirst = (target: string, timeout: string) => `  // v2: look at the API first.
  await inc.step('${LOOK_FIRST_STEP}', 'Look at the API first (v2)', () =>
    checks.checkHealth({ target: ${target}, timeoutMs: ${timeout} }), (h) => \`health \${h.status ?? 'no answer'}\`);
`;
export const v2LooksFirst: Edit[] = [
  {
    file: 'data-integrity.ts',
    edit: (src) =>
      src.replace(
        '  // 1. STOP SYSTEM, and hold it stopped against every other runbook.\n',
        `${lookFirst('target', 'policy.healthTimeoutMs')}  // 1. STOP SYSTEM, and hold it stopped against every other runbook.\n`,
      ),
  },
  {
    file: 'queue-overflow.ts',
    edit: (src) =>
      src.replace(
        '  const depth0 = await checkQueue(run); // 1. Check queue\n',
        `${lookFirst('run.target', '5_000')}  const depth0 = await checkQueue(run); // 1. Check queue\n`,
      ),
  },
];

/** A change that breaks every recorded P0-1: a new timer before its first health check. */
export const p01PausesFirst: Edit = {
  file: 'system-down.ts',
  edit: (src) =>
    `import { sleep as pauseFirst } from '@temporalio/workflow';\n${src.replace(
      '  // 1. Check health\n',
      "  await pauseFirst('1 second');\n  // 1. Check health\n",
    )}`,
};
