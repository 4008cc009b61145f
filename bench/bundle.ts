/**
 * The runbooks and the bench workflows (bench/workflows.ts) in one workflow bundle, made once per
 * process: in memory for the in-process time-skipping worker, as a file for the worker processes.
 */
import { rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';

let bundlePromise: Promise<string> | undefined;
/** The runbooks and the bench workflows in one bundle, made once per process. */
export function benchBundle(): Promise<string> {
  bundlePromise ??= bundleWorkflowCode({
    workflowsPath: require.resolve('./workflows'),
    logger: { trace: noop, debug: noop, info: noop, log: noop, warn: noop, error: noop },
  }).then((b) => b.code);
  return bundlePromise;
}
const noop = () => undefined;

let bundleFile: string | undefined;
/** The same bundle as a file, for the worker processes. */
export async function benchBundleFile(): Promise<string> {
  if (!bundleFile) {
    const file = path.join(os.tmpdir(), `abk-bench-bundle-${process.pid}.js`);
    writeFileSync(file, await benchBundle());
    process.once('exit', () => rmSync(file, { force: true }));
    bundleFile = file;
  }
  return bundleFile;
}
