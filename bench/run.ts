#!/usr/bin/env node
/**
 * `npm run bench`: brings up its own local stack (unless TEMPORAL_ADDRESS says one runs), runs every
 * benchmark of issue 12, prints one table and writes the same as JSON, with SVG plots beside it
 * (bench/plots.ts: growth curves, first-action latencies).
 *
 *   node dist/bench/run.js            moderate sizes (a shared 2-core machine)
 *   node dist/bench/run.js --full     the sizes (10,000 alerts / 200 incidents, 1,000 open)
 *   node dist/bench/run.js --tiny     each benchmark once at a tiny size
 *   node dist/bench/run.js --small    fewer pairs and one storm, the 1,000 open incidents
 *   --cluster                         benchmarks 1, 2, 3 also on the two-node cluster (bench/cluster.ts:
 *                                     PostgreSQL, HAProxy; brought up in BENCH_CLUSTER_DIR, default
 *                                     .stack/bench-cluster, and down again unless it was already up)
 *   --out <file>                      JSON path (default bench/results/latest.json); plots beside it;
 *                                     with --cluster also <file>-cluster.json and cluster/ plots
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { DefaultLogger, makeTelemetryFilterString, Runtime } from '@temporalio/worker';
import { clusterUp, renderComparison, runOnCluster, SMALL_SIZES, type Cluster } from './cluster';
import { writeBenchPlots } from './plots';
import { renderTable } from './report';
import { DEFAULT_SIZES, FULL_SIZES, TINY_SIZES } from './sizes';
import { runAll } from './suite';

const REPO = path.resolve(__dirname, '..', existsSync(path.join(__dirname, '../package.json')) ? '' : '..');

/** `export K=V` lines of the stack's env file into this process's environment. */
function loadEnvFile(file: string): void {
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const m = /^export ([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (m) process.env[m[1]] = m[2].replace(/^'(.*)'$/, '$1').replace(/^"(.*)"$/, '$1');
  }
}

const wantsDetection = () => !process.env.BENCH_ONLY || process.env.BENCH_ONLY.split(',').includes('7');

function stack(cmd: 'up' | 'down', stackDir: string): void {
  execFileSync(path.join(REPO, 'scripts/stack.sh'), [cmd], {
    cwd: REPO,
    stdio: ['ignore', 'ignore', 'inherit'],
    // Incidents target made-up names and fail their checks fast; only the detection benchmark (7)
    // crashes the sandbox API, with the shortened alert timings (`for:` 3 s, group_wait 1 s).
    env: {
      ...process.env,
      STACK_DIR: stackDir,
      STACK_ALERT_TIMING: 'fast',
      ...(wantsDetection() ? {} : { STACK_SKIP_SANDBOX: '1' }),
    },
  });
}

async function main(): Promise<void> {
  // Incidents on made-up targets fail their checks by design: keep the SDK's warnings out of the table.
  Runtime.install({
    logger: new DefaultLogger('ERROR'),
    telemetryOptions: {
      logging: { filter: makeTelemetryFilterString({ core: 'ERROR', other: 'ERROR' }), forward: {} },
    },
  });
  const args = process.argv.slice(2);
  const mode = args.includes('--tiny')
    ? 'tiny'
    : args.includes('--full')
      ? 'full'
      : args.includes('--small')
        ? 'small'
        : 'default';
  const sizes = { tiny: TINY_SIZES, full: FULL_SIZES, small: SMALL_SIZES, default: DEFAULT_SIZES }[mode];
  const outIdx = args.indexOf('--out');
  const out = outIdx >= 0 ? path.resolve(args[outIdx + 1]) : path.join(REPO, 'bench/results/latest.json');
  const log = (l: string) => process.stderr.write(`bench: ${l}\n`);

  // The cluster comes up (its own PostgreSQL and nodes) while the stack does.
  const clusterStarting = args.includes('--cluster')
    ? clusterUp(REPO, process.env.BENCH_CLUSTER_DIR ?? path.join(REPO, '.stack/bench-cluster'), log)
    : undefined;
  clusterStarting?.catch(() => undefined);
  let cluster: Cluster | undefined;
  let ownStack: string | undefined;
  try {
    if (!process.env.TEMPORAL_ADDRESS) {
      ownStack = process.env.BENCH_STACK_DIR ?? path.join(REPO, '.stack/bench');
      log(`starting the stack in ${ownStack}`);
      stack('up', ownStack);
      loadEnvFile(path.join(ownStack, 'env'));
    }
    cluster = await clusterStarting;
    const report = await runAll(sizes, mode, log);
    const table = renderTable(report);
    process.stdout.write(`${table}\n`);
    mkdirSync(path.dirname(out), { recursive: true });
    writeFileSync(out, `${JSON.stringify({ ...report, table }, null, 2)}\n`);
    log(`wrote ${out}`);
    for (const file of writeBenchPlots(report, path.dirname(out))) log(`plotted ${file}`);
    if (cluster) {
      log('benchmarks 1, 2, 3 again, on the two-node cluster');
      const onCluster = await runOnCluster(cluster, sizes, mode, log);
      const clusterTable = renderTable(onCluster);
      const comparison = renderComparison(report, onCluster);
      process.stdout.write(
        `\nOn the two-node cluster:\n\n${clusterTable}\n\nSide by side:\n\n${comparison}\n`,
      );
      const clusterOut = out.replace(/(\.json)?$/, '-cluster.json');
      writeFileSync(
        clusterOut,
        `${JSON.stringify({ ...onCluster, table: clusterTable, comparison }, null, 2)}\n`,
      );
      log(`wrote ${clusterOut}`);
      for (const file of writeBenchPlots(onCluster, path.join(path.dirname(out), 'cluster')))
        log(`plotted ${file}`);
    }
  } finally {
    const stopping = (cluster ?? (await clusterStarting?.catch(() => undefined)))?.down();
    if (ownStack) stack('down', ownStack);
    await stopping;
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(
      `bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
    process.exit(1);
  },
);
