/**
 * docs/runbook-coverage.md stays true: every numbered action, "Escalate if" and "Resume" line of the
 * seed runbook (seven runbooks and the post-incident duties) has a row, and every row names a test
 * file that exists and holds a test with exactly that name (a `test.each` title counts when the
 * name is one of its expansions).
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';

const repo = path.resolve(__dirname, '../..');
const doc = readFileSync(path.join(repo, 'docs/runbook-coverage.md'), 'utf8');

interface Row {
  runbook: string;
  line: string;
  fault: string;
  file: string;
  name: string;
  gaps: string;
}

const code = (cell: string) => cell.replace(/^`|`$/g, '');
const rows: Row[] = doc
  .split('\n')
  .filter((l) => l.startsWith('| ') && !l.startsWith('| Runbook') && !/^\| -/.test(l))
  .map((l) => {
    const cells = l
      .split('|')
      .slice(1, -1)
      .map((c) => c.trim());
    if (cells.length !== 6) throw new Error(`a coverage row needs 6 cells: ${l}`);
    const [runbook, line, fault, file, name, gaps] = cells;
    return { runbook, line, fault, file: code(file), name: code(name), gaps };
  });

/** The lines of the seed runbook, by runbook: numbered actions, then "Escalate if" or "Resume". */
const SEED_LINES: Record<string, string[]> = {
  'P0-1': ['1', '2', '3', '4', 'Escalate if'],
  'P0-2': ['1', '2', '3', '4', 'Escalate if'],
  'P0-3': ['1', '2', '3', '4', 'Resume'],
  'P0-4': ['1', '2', '3', '4', 'Resume'],
  'P1-1': ['1', '2', '3', '4', 'Escalate if'],
  'P1-2': ['1', '2', '3', '4', 'Escalate if'],
  'P1-3': ['1', '2', '3', '4', 'Escalate if'],
  'Post-incident': ['1', '2', '3'],
};
const lineKey = (line: string) =>
  /^(\d+)\./.exec(line)?.[1] ?? (/^(Escalate if|Resume)/.exec(line)?.[1] || line);

/** Test titles in a file: literal titles, and `test.each` templates as patterns (%s, %d, %i, %p). */
function titles(source: string): { exact: Set<string>; patterns: RegExp[] } {
  const exact = new Set<string>();
  const patterns: RegExp[] = [];
  const re = /\b(?:test|it)(\.each\s*\([\s\S]*?\)\s*)?\(\s*(['"`])((?:\\.|(?!\2)[^\\])*)\2/g;
  for (const m of source.matchAll(re)) {
    const title = m[3].replace(/\\(.)/g, '$1');
    if (m[1]) {
      const escaped = title.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      patterns.push(new RegExp(`^${escaped.replace(/%[sdip]/g, '.+')}$`));
    } else {
      exact.add(title);
    }
  }
  return { exact, patterns };
}

test('every numbered action, "Escalate if" and "Resume" line of the runbook has exactly one row', () => {
  const seen: Record<string, string[]> = {};
  for (const r of rows) (seen[r.runbook] ??= []).push(lineKey(r.line));
  expect(seen).toEqual(SEED_LINES);
});

test.each(rows.map((r): [string, Row] => [`${r.runbook} ${r.line}`, r]))(
  '%s: its test exists, by file and name',
  (_line, row) => {
    expect(row.fault).not.toBe('');
    expect(row.gaps).not.toBe('');
    const file = path.join(repo, row.file);
    expect({ file: row.file, exists: existsSync(file) }).toEqual({ file: row.file, exists: true });
    const { exact, patterns } = titles(readFileSync(file, 'utf8'));
    const found = exact.has(row.name) || patterns.some((p) => p.test(row.name));
    expect({ file: row.file, name: row.name, found }).toEqual({
      file: row.file,
      name: row.name,
      found: true,
    });
  },
);

test('the check bites: a name that is not a test of its file is not found', () => {
  const { exact, patterns } = titles(readFileSync(path.join(repo, 'test/chaos/crash.test.ts'), 'utf8'));
  const bogus = 'P0-1 System down: passes without a worker';
  expect(exact.has(bogus) || patterns.some((p) => p.test(bogus))).toBe(false);
  const real =
    'P0-1 System down: same outcome and every side effect once when the worker is killed at each activity';
  expect(patterns.some((p) => p.test(real))).toBe(true);
});
