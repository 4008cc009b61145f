/**
 * Safe runbook updates: every recorded history in test/fixtures/histories/ (one per runbook path,
 * recorded by scripts/record-histories.ts) must replay against the current workflow code. A change
 * that would break running incidents fails here. To prove the check bites, a copy of the workflows
 * with one extra timer in P0-1 is caught as non-deterministic, and the same change behind
 * `patched()` replays cleanly (docs/runbook-changes.md).
 */
import { cpSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Worker, type WorkflowBundle } from '@temporalio/worker';
import { bundleQuietly } from '../../client/release/replay-gate';
import { DeterminismViolationError } from '@temporalio/workflow';
import { historyFromJson, type History } from '../../common/report/proto-json';
import { createIncidentMetrics, incidentMetricsSinks } from '../../worker/metrics';
import { workflowsPath } from '../../rig/temporal';
import { SCENARIOS } from '../../rig/replay-scenarios';

const FIXTURES = path.resolve(__dirname, '../fixtures/histories');
const fixtures = readdirSync(FIXTURES)
  .filter((f) => f.endsWith('.json'))
  .sort();
const load = (file: string): History =>
  historyFromJson(JSON.parse(readFileSync(path.join(FIXTURES, file), 'utf8')));
const sinks = incidentMetricsSinks(createIncidentMetrics());

/** Replays one history; returns the error (undefined when it replays cleanly). */
async function replay(bundle: WorkflowBundle, file: string): Promise<Error | undefined> {
  const results = Worker.runReplayHistories({ workflowBundle: bundle, sinks, replayName: file }, [
    { history: load(file), workflowId: path.basename(file, '.json') },
  ]);
  for await (const r of results) return r.error instanceof Error ? r.error : undefined;
  throw new Error(`no replay result for ${file}`);
}

let current: WorkflowBundle;
const copies: string[] = [];

/** A copy of workflows/ (inside the repo, so it resolves node_modules) with one file edited. */
async function bundleEditedCopy(
  name: string,
  edit: (source: string) => string,
  fileName = 'system-down.ts',
): Promise<WorkflowBundle> {
  const dir = path.resolve(__dirname, `../../test-artifacts/replay-${name}-${process.pid}`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  cpSync(path.dirname(workflowsPath), path.join(dir, 'workflows'), { recursive: true });
  // Workflows import definitions/ (the layer below them); type-only imports of activities are
  // erased by the bundler, so the copy needs nothing else.
  cpSync(path.resolve(path.dirname(workflowsPath), '../definitions'), path.join(dir, 'definitions'), {
    recursive: true,
  });
  const file = path.join(dir, 'workflows', fileName);
  const edited = edit(readFileSync(file, 'utf8'));
  writeFileSync(file, edited);
  copies.push(dir);
  return bundleQuietly(path.join(dir, 'workflows'));
}

/** A new timer before the first health check: old histories scheduled the activity there. */
const PAUSE = "await sleep('1 second');";
/** Imports what the edit uses, unless the file already imports it (under the same name). */
const addImport = (src: string, names: string) => {
  const missing = names
    .split(',')
    .map((n) => n.trim())
    .filter((n) => !new RegExp(`import \\{[^}]*\\b${n}\\b[^}]*\\} from '@temporalio/workflow'`).test(src));
  return missing.length ? `import { ${missing.join(', ')} } from '@temporalio/workflow';\n${src}` : src;
};
const insertBeforeHealthCheck = (src: string, code: string) => {
  const marker = '  // 1. Check health\n';
  if (!src.includes(marker)) throw new Error('system-down.ts no longer has the "// 1. Check health" marker');
  return src.replace(marker, `  ${code}\n${marker}`);
};

beforeAll(async () => {
  current = await bundleQuietly(workflowsPath);
});

afterAll(() => {
  for (const dir of copies) rmSync(dir, { recursive: true, force: true });
});

test("there is a recorded history for every scenario: each runbook's main paths, the guard, the follow-up", () => {
  const expected = SCENARIOS.flatMap((s) => s.fixtures ?? [s.name]).map((n) => `${n}.json`);
  expect(fixtures).toEqual(expect.arrayContaining(expected));
  for (const runbook of [
    'P0-1',
    'P0-2',
    'P0-3',
    'P0-4',
    'P1-1',
    'P1-2',
    'P1-3',
    'target-guard',
    'post-incident',
  ]) {
    expect(fixtures.some((f) => f.startsWith(`${runbook}-`))).toBe(true);
  }
});

test.each(fixtures)('recorded history %s replays against the current workflow code', async (file) => {
  expect(await replay(current, file)).toBeUndefined();
});

test('a non-deterministic change to P0-1 (a new timer before the first check) is caught on replay', async () => {
  const changed = await bundleEditedCopy('nondeterministic', (src) =>
    addImport(insertBeforeHealthCheck(src, PAUSE), 'sleep'),
  );
  const p01 = fixtures.filter((f) => f.startsWith('P0-1-'));
  expect(p01.length).toBeGreaterThan(0);
  for (const file of p01) {
    const err = await replay(changed, file);
    expect(err).toBeInstanceOf(DeterminismViolationError);
  }
});

test('the same change behind patched() replays every recorded history cleanly', async () => {
  const patchedCopy = await bundleEditedCopy('patched', (src) =>
    addImport(
      insertBeforeHealthCheck(src, `if (patched('pause-before-health-check')) ${PAUSE}`),
      'patched, sleep',
    ),
  );
  for (const file of fixtures) expect(await replay(patchedCopy, file)).toBeUndefined();
});

/** Every shared activity proxy waits a second before each call: a change every runbook goes through. */
const pauseBeforeEveryActivity = (src: string) => {
  // (`watches` is left alone: the verify loops call it through executeWithOptions.)
  const proxies = /export const (checks|polls|actions|notifications) = proxyActivities/g;
  if ((src.match(proxies) ?? []).length !== 4)
    throw new Error('activity-proxies.ts no longer has the 4 proxies');
  return `${addImport(src.replace(proxies, 'const $1Raw = proxyActivities'), 'sleep')}
const pausing = <T extends object>(raw: T): T =>
  new Proxy(raw, {
    get: (target, key) => {
      const fn = Reflect.get(target, key) as (...args: unknown[]) => Promise<unknown>;
      return async (...args: unknown[]) => {
        ${PAUSE}
        return fn(...args);
      };
    },
  });
export const checks = pausing(checksRaw);
export const polls = pausing(pollsRaw);
export const actions = pausing(actionsRaw);
export const notifications = pausing(notificationsRaw);
`;
};

test('a change every runbook goes through (a timer before each activity) is caught on every recorded history', async () => {
  const changed = await bundleEditedCopy('every-runbook', pauseBeforeEveryActivity, 'activity-proxies.ts');
  const caught: string[] = [];
  for (const file of fixtures) {
    if ((await replay(changed, file)) instanceof DeterminismViolationError) caught.push(file);
  }
  // Every runbook and guard history; the follow-up's too once it pages or reminds (its draft
  // activity has its own proxy, so a history that stops right after the draft is not affected).
  const runbooks = fixtures.filter((f) => /^(P[01]-\d|target-guard)-/.test(f));
  expect(runbooks.length).toBeGreaterThanOrEqual(10);
  expect(caught).toEqual(expect.arrayContaining(runbooks));
  expect(caught).toContain('post-incident-duties-filed-late.json');
});
