/**
 * `npm run bench -- --cluster` (issue 19, "the production shape in the bench"): the first-action,
 * storm and open-incidents benchmarks (1, 2, 3 of bench/suite.ts) run a second time, on the two-node
 * cluster of scripts/cluster.sh (PostgreSQL persistence, HAProxy in front), each beside the floor
 * measured on that cluster in the same run. The same functions run unchanged: they, the worker
 * process and the intake process find Temporal through TEMPORAL_ADDRESS, which points at the
 * cluster's balancer while they run; Redis and the receivers stay the stack's.
 */
import { execFile, execFileSync } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import type { BenchReport, Figure } from './report';
import { DEFAULT_SIZES, type BenchSizes } from './sizes';
import { runAll } from './suite';

const run = promisify(execFile);

/**
 * Sizes for a run of both servers on a shared 2-core machine: fewer pairs and one storm, but the
 * issue's 1,000 open incidents, so that the burst is the 500 approvals at once.
 */
export const SMALL_SIZES: BenchSizes = {
  ...DEFAULT_SIZES,
  firstActionRuns: 10,
  warmup: 2,
  stormAlerts: 1000,
  stormIncidents: 50,
  stormConcurrency: 32,
  stormRepeats: 1,
  stormWarmupRequests: 200,
  openIncidents: 1000,
  maxCachedWorkflows: 1200,
  growthAlerts: [200, 1000],
  growthOpen: [100, 1000],
};

/** The benchmarks that run on the cluster too. */
const CLUSTER_BENCHMARKS = ['1', '2', '3'];

/** What the cluster must do beyond the dev server's targets: the burst (5.5 s on SQLite) in 1 s. */
const BURST_TARGET_MS = 1000;

export interface Cluster {
  /** `scripts/cluster.sh env` as variables: TEMPORAL_ADDRESS (the balancer), TEMPORAL_NAMESPACE, … */
  env: Record<string, string>;
  /** Stops it, if this run started it (a cluster that was already up is left up). */
  down(): Promise<void>;
}

const clusterSh = (repo: string, dir: string, ...args: string[]) =>
  run(path.join(repo, 'scripts/cluster.sh'), args, {
    cwd: repo,
    // The bench needs no Web UI; its server would only take CPU from the measurement.
    env: { ...process.env, CLUSTER_DIR: dir, CLUSTER_SKIP_UI: '1' },
    maxBuffer: 16 * 1024 * 1024,
  });

/** `export K=V` lines (what `scripts/cluster.sh env` prints) as variables. */
export function parseEnvLines(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^export ([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (m) out[m[1]] = m[2].replace(/^'(.*)'$/, '$1').replace(/^"(.*)"$/, '$1');
  }
  return out;
}

/**
 * The cluster in `dir`: reused when already up, otherwise brought up (and later down) by this run.
 * `up` is spawned before this returns its promise, so it goes on while the caller blocks (the stack's
 * `up` is synchronous).
 */
export async function clusterUp(repo: string, dir: string, log: (l: string) => void): Promise<Cluster> {
  const already = isUp(repo, dir);
  log(already ? `using the cluster already up in ${dir}` : `starting the two-node cluster in ${dir}`);
  // `up` is a no-op on a cluster that is up; either way it prints the cluster's env last.
  const { stdout } = await clusterSh(repo, dir, 'up').catch((err: { stderr?: string; message: string }) => {
    throw new Error(`scripts/cluster.sh up failed: ${err.stderr?.trim().slice(-2000) ?? err.message}`);
  });
  const env = parseEnvLines(stdout);
  if (!env.TEMPORAL_ADDRESS) throw new Error(`scripts/cluster.sh up (${dir}) printed no TEMPORAL_ADDRESS`);
  log(`cluster up: balancer ${env.TEMPORAL_ADDRESS}`);
  return {
    env,
    async down() {
      if (already) return;
      log(`stopping the cluster in ${dir}`);
      await clusterSh(repo, dir, 'down');
    },
  };
}

function isUp(repo: string, dir: string): boolean {
  try {
    execFileSync(path.join(repo, 'scripts/cluster.sh'), ['status'], {
      cwd: repo,
      env: { ...process.env, CLUSTER_DIR: dir },
      stdio: 'ignore',
    });
    return true;
  } catch {
    return false;
  }
}

/**
 * Benchmarks 1, 2 and 3 (those of them BENCH_ONLY asks for) on the cluster, with the burst of
 * approvals held to its cluster target. The environment is restored afterwards.
 */
export async function runOnCluster(
  cluster: Cluster,
  sizes: BenchSizes,
  mode: string,
  log: (line: string) => void,
): Promise<BenchReport> {
  const only = process.env.BENCH_ONLY?.split(',');
  const benchmarks = CLUSTER_BENCHMARKS.filter((k) => !only || only.includes(k));
  if (!benchmarks.length)
    throw new Error(`--cluster runs benchmarks 1, 2, 3; BENCH_ONLY=${process.env.BENCH_ONLY} asks for none`);
  const keys = ['TEMPORAL_ADDRESS', 'TEMPORAL_NAMESPACE', 'BENCH_ONLY'];
  const saved = Object.fromEntries(keys.map((k) => [k, process.env[k]]));
  process.env.TEMPORAL_ADDRESS = cluster.env.TEMPORAL_ADDRESS;
  process.env.TEMPORAL_NAMESPACE = cluster.env.TEMPORAL_NAMESPACE ?? 'default';
  process.env.BENCH_ONLY = benchmarks.join(',');
  try {
    const report = await runAll(sizes, `${mode}, two-node cluster (PostgreSQL, HAProxy)`, log);
    report.figures = report.figures.map((f) => (f.id === 'open-approval-burst' ? burstOnCluster(f) : f));
    return report;
  } finally {
    for (const k of keys) {
      if (saved[k] === undefined) delete process.env[k];
      else process.env[k] = saved[k];
    }
  }
}

/** The burst row, which is information on the dev server, has the target on the cluster. */
function burstOnCluster(f: Figure): Figure {
  const p99 = Number(f.data.p99);
  return { ...f, target: `p99 ≤ ${BURST_TARGET_MS / 1000} s`, pass: p99 <= BURST_TARGET_MS };
}

/**
 * The figures both servers measured, side by side (markdown), each with its result against the
 * target (the cluster's target where it has its own: the burst).
 */
export function renderComparison(dev: BenchReport, cluster: BenchReport): string {
  const d = new Map(dev.figures.map((f) => [f.id, f]));
  const cell = (f: Figure) => `${f.measured}${f.pass === null ? '' : f.pass ? ' (pass)' : ' (FAIL)'}`;
  const rows = cluster.figures
    .filter((f) => d.has(f.id))
    .map((f) => [f.figure, f.target, cell(d.get(f.id)!), cell(f)]);
  const head = ['figure', 'target', 'dev server (SQLite)', 'two-node cluster (PostgreSQL, HAProxy)'];
  return [
    `| ${head.join(' | ')} |`,
    `|${head.map(() => '---').join('|')}|`,
    ...rows.map((r) => `| ${r.map((c) => c.replace(/\|/g, '/')).join(' | ')} |`),
  ].join('\n');
}
