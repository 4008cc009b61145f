/**
 * How scripts/test.sh splits the Jest suites in two (`--shard=1/2`, `--shard=2/2`), each half on a
 * stack of its own, run at the same time: most suites wait on real things (scrapes, rule `for:`
 * durations, restarts, the time-skipping server), so two halves take about half the wall time.
 *
 * Shard 1 is the suites that watch their whole stack or its detection loop: the dry runs check that
 * nothing changed anywhere in the stack's Docker engine, PostgreSQL and Redis; the alerting and game
 * day suites drive the stack's one Prometheus and Alertmanager. They keep running one at a time on
 * one stack, as they always did. Shard 2 is every other suite, so a new test file is never left out
 * of both. The lists are by path; the split was balanced by each suite's time in a whole run
 * (test-artifacts/jest-results.json): shard 1 about 690 s, shard 2 about 710 s of 1,400.
 *
 * Any other shard count falls back to Jest's own split.
 */
const Sequencer = require('@jest/test-sequencer').default;
const path = require('node:path');

const root = path.join(__dirname, '..', '..');
/** Shard 1, by path under the repository. */
const SHARD_ONE = [
  'test/dry-run/',
  'test/alerting/',
  'test/game-day/',
  'test/bench/',
  'test/ui/',
  'test/approval-page/',
];

const inShardOne = (file) => {
  const rel = path.relative(root, file).split(path.sep).join('/');
  return SHARD_ONE.some((prefix) => rel.startsWith(prefix));
};

class StackShards extends Sequencer {
  shard(tests, options) {
    if (options.shardCount !== 2) return super.shard(tests, options);
    const one = options.shardIndex === 1;
    return tests.filter((t) => inShardOne(t.path) === one);
  }
}

module.exports = StackShards;
