/**
 * The target guard's table is one table: the code (TARGET_ACTION_RULES), the page that documents
 * it (docs/target-guard.md) and the lint that keeps mutating activities out of the runbooks
 * (eslint.config.mjs) must say the same; and every mutating activity is wrapped by the grant check.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import {
  GUARDED_ACTIVITIES,
  TARGET_ACTION_RULES,
  type GuardedActionKind,
} from '../../definitions/target-guard';
import { createActivities, type ActivityDeps } from '../../activities';

const root = path.resolve(__dirname, '../..');
const yesNo = (b: boolean) => (b ? 'yes' : 'no');

test('docs/target-guard.md has the same table as TARGET_ACTION_RULES', () => {
  const doc = readFileSync(path.join(root, 'docs/target-guard.md'), 'utf8');
  const rows = new Map(
    doc
      .split('\n')
      .filter((l) => /^\| `[a-z-]+`\s*\|/.test(l))
      .map((l) =>
        l
          .split('|')
          .slice(1, -1)
          .map((c) => c.trim()),
      )
      .map((cells) => [cells[0].replace(/`/g, ''), cells] as const),
  );
  expect([...rows.keys()].sort()).toEqual(Object.keys(TARGET_ACTION_RULES).sort());
  for (const [kind, rule] of Object.entries(TARGET_ACTION_RULES)) {
    const activities = Object.entries(GUARDED_ACTIVITIES)
      .filter(([, k]) => k === kind)
      .map(([name]) => name);
    expect({ kind, row: rows.get(kind)!.slice(1) }).toEqual({
      kind,
      row: [
        activities.join(', '),
        yesNo(rule.heldBlocks),
        yesNo(rule.restartBudget),
        yesNo(rule.exclusive),
        rule.why,
      ],
    });
  }
  // At least every start, restart and scale-up of the held app is blocked.
  for (const kind of ['start', 'restart', 'scale-up'] as GuardedActionKind[])
    expect(TARGET_ACTION_RULES[kind].heldBlocks).toBe(true);
});

test('the lint forbids exactly the guarded activities in workflows/', () => {
  // eslint.config.mjs is an ES module Jest cannot import: its list is read as text.
  const config = readFileSync(path.join(root, 'eslint.config.mjs'), 'utf8');
  const list = /export const guardedActivities = \[([^\]]*)\]/.exec(config)?.[1] ?? '';
  const names = [...list.matchAll(/'([A-Za-z]+)'/g)].map((m) => m[1]);
  expect(names.sort()).toEqual(Object.keys(GUARDED_ACTIVITIES).sort());
});

test('every guarded activity the worker registers refuses without a grant', async () => {
  const acts = createActivities({
    memo: null,
    health: { apiUrls: {} },
    notify: {},
    appRoles: ['accubooks'],
  } as unknown as ActivityDeps) as unknown as Record<string, (input: unknown) => Promise<unknown>>;
  for (const name of Object.keys(GUARDED_ACTIVITIES)) {
    await expect(acts[name]({})).rejects.toMatchObject({ type: 'ACTION_REFUSED', nonRetryable: true });
  }
});
