/**
 * The `alert` signal's payload check (pure function): anyone can send this signal from the UI or the
 * CLI, so a malformed one is refused by the handler instead of failing the workflow task. Folded
 * storms (client/intake/fold.ts) add a count, which must be whole numbers.
 */
import { alertEventProblem } from '../../workflows/alert-events';

test('well-formed alerts, single or folded, pass', () => {
  expect(alertEventProblem({ status: 'firing' })).toBeUndefined();
  expect(alertEventProblem({ status: 'resolved', values: { value: 0.02 } })).toBeUndefined();
  expect(alertEventProblem({ status: 'firing', count: { firing: 19, resolved: 1 } })).toBeUndefined();
  expect(alertEventProblem({ status: 'resolved', count: { firing: 0, resolved: 3 } })).toBeUndefined();
});

test.each([
  [null, 'expected a JSON object'],
  [[], 'expected a JSON object'],
  [{ status: 'open' }, '"status" must be "firing" or "resolved"'],
  [{ status: 'firing', receivedAt: 5 }, '"receivedAt" must be a string'],
  [{ status: 'firing', values: { v: {} } }, '"values" must be an object of numbers or strings'],
  [{ status: 'firing', count: 3 }, '"count" must be'],
  [{ status: 'firing', count: { firing: -1, resolved: 0 } }, '"count" must be'],
  [{ status: 'firing', count: { firing: 1.5, resolved: 0 } }, '"count" must be'],
  [{ status: 'firing', count: { firing: 0, resolved: 0 } }, '"count" must be'],
  [{ status: 'firing', count: { firing: '2', resolved: 0 } }, '"count" must be'],
])('%j is refused: %s', (event, problem) => {
  expect(alertEventProblem(event)).toContain(problem);
});
