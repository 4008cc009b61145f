/**
 * The benchmarks of issue 12, in the order they run, over a running stack (Temporal dev server,
 * PostgreSQL, Redis, Docker, stripe-mock, Prometheus; the env that scripts/stack.sh writes).
 * `bench/run.ts` runs them at their real sizes and prints the table; `test/bench/bench-tiny.test.ts`
 * runs each once at a tiny size and checks only that figures come out and the invariants hold.
 *
 * Benchmarks 1, 2 and 3 run on the dev-server rig (bench/dev-rig.ts: the worker in a process of its
 * own, the real intake process, the load generator here); 4 and 6 on the time-skipping server
 * (bench/time-skipping-rig.ts); 7 on the whole alert loop of the stack (bench/detection.ts). Memory
 * figures are the worker process's RSS, read from /proc.
 */
import { detectionBenchmark } from './detection';
import { firstActionBenchmark } from './first-action';
import { historyBenchmark } from './history';
import { openBenchmark } from './open-incidents';
import { addGrowthFigures, assembleReport, newCollected, type BenchReport, type Log } from './report';
import type { BenchSizes } from './sizes';
import { stormBenchmark } from './storm-figures';

export async function runAll(
  sizes: BenchSizes,
  mode: string,
  log: Log = () => undefined,
): Promise<BenchReport> {
  const out = newCollected();
  // BENCH_ONLY=1,2,3,4 runs a subset (while working on one benchmark).
  const only = process.env.BENCH_ONLY?.split(',');
  const want = (k: string) => !only || only.includes(k);

  if (want('1')) await firstActionBenchmark(sizes, log, out);
  if (want('2')) await stormBenchmark(sizes, log, out);
  if (want('3')) await openBenchmark(sizes, log, out);
  addGrowthFigures(out);
  if (want('4')) await historyBenchmark(sizes, log, out);
  if (want('7')) await detectionBenchmark(sizes, log, out);
  return assembleReport(sizes, mode, out);
}
