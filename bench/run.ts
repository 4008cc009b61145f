#!/usr/bin/env node
/**
 * `npm run bench`: brings up its own local stack (unless TEMPORAL_ADDRESS says one runs), runs every
 * benchmark of issue 12, prints one table and writes the same as JSON, with SVG plots beside it
 * (bench/plots.ts: growth curves, first-action latencies).
 *
 *   node dist/bench/run.js            moderate sizes (a shared 2-core machine)
 *   node dist/bench/run.js --full     the sizes (10,000 alerts / 200 incidents, 1,000 open)
 *   node dist/bench/run.js --tiny     each benchmark once at a tiny size
 *   --out <file>                      JSON path (default bench/results/latest.json); plots beside it
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { DefaultLogger, makeTelemetryFilterString, Runtime } from '@temporalio/worker';
import { writeBenchPlots } from './plots';
import { DEFAULT_SIZES, FULL_SIZES, renderTable, runAll, TINY_SIZES } from './suite';

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
  const mode = args.includes('--tiny') ? 'tiny' : args.includes('--full') ? 'full' : 'default';
  const sizes = mode === 'tiny' ? TINY_SIZES : mode === 'full' ? FULL_SIZES : DEFAULT_SIZES;
  const outIdx = args.indexOf('--out');
  const out = outIdx >= 0 ? path.resolve(args[outIdx + 1]) : path.join(REPO, 'bench/results/latest.json');

  let ownStack: string | undefined;
  if (!process.env.TEMPORAL_ADDRESS) {
    ownStack = process.env.BENCH_STACK_DIR ?? path.join(REPO, '.stack/bench');
    process.stderr.write(`bench: starting the stack in ${ownStack}\n`);
    stack('up', ownStack);
    loadEnvFile(path.join(ownStack, 'env'));
  }
  try {
    const report = await runAll(sizes, mode, (l) => process.stderr.write(`bench: ${l}\n`));
    const table = renderTable(report);
    process.stdout.write(`${table}\n`);
    mkdirSync(path.dirname(out), { recursive: true });
    writeFileSync(out, `${JSON.stringify({ ...report, table }, null, 2)}\n`);
    process.stderr.write(`bench: wrote ${out}\n`);
    for (const file of writeBenchPlots(report, path.dirname(out)))
      process.stderr.write(`bench: plotted ${file}\n`);
  } finally {
    if (ownStack) stack('down', ownStack);
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
