/** The alert rules: valid for Prometheus (promtool check) and firing exactly as the seed says (promtool test). */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { DEFAULT_ALERT_RUNBOOKS } from '../../client/intake/mapping';

const alerts = path.join(__dirname, '../../alerts');
const run = (args: string[]) =>
  execFileSync('promtool', args, { cwd: alerts, encoding: 'utf8', stdio: 'pipe' });

test('promtool check rules alerts/*.yml', () => {
  const files = readdirSync(alerts).filter((f) => f.endsWith('.yml'));
  expect(files.length).toBeGreaterThan(0);
  expect(run(['check', 'rules', ...files])).toMatch(/SUCCESS: 5 rules found/);
});

test('promtool test rules: each detection fires after its seed duration, not before', () => {
  expect(run(['test', 'rules', 'tests/accubooks.rules.test.yml'])).toMatch(/SUCCESS/);
});

test('every alert the rules fire is one the intake maps, to the runbook its label names', () => {
  const text = readFileSync(path.join(alerts, 'accubooks.rules.yml'), 'utf8');
  const pairs = [...text.matchAll(/- alert: (\w+)[\s\S]*?runbook: (P[01]-\d)/g)].map((m) => [m[1], m[2]]);
  expect(pairs).toHaveLength(5);
  for (const [name, runbook] of pairs) expect(DEFAULT_ALERT_RUNBOOKS[name]).toBe(runbook);
});
