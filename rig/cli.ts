/**
 * The built operator CLI (`node dist/client/cli.js`), run as an operator runs it, for the end-to-end
 * suites. They test the build: a stale one would test old code, so they check it first.
 */
import { spawn } from 'node:child_process';
import { statSync } from 'node:fs';
import path from 'node:path';

const root = path.join(__dirname, '..');
const cliJs = path.join(root, 'dist/client/cli.js');

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
  json<T = Record<string, unknown>>(): T;
  errorJson(): Record<string, unknown>;
}

/** Throws unless dist/client/cli.js exists and is newer than each of `sources` (repo-relative). */
export function assertCliBuilt(sources: string[]): void {
  const built = statSync(cliJs, { throwIfNoEntry: false });
  for (const src of sources) {
    if (!built || built.mtimeMs < statSync(path.join(root, src)).mtimeMs) {
      throw new Error(`dist/client/cli.js is missing or older than ${src}: run \`npm run build\` first`);
    }
  }
}

/** A CLI bound to one task queue (the test's worker), run as user `cli-test`. */
export function cliOn(taskQueue: string, env: Record<string, string> = {}) {
  return (...args: string[]): Promise<CliRun> =>
    new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [cliJs, ...args], {
        env: { ...process.env, TEMPORAL_TASK_QUEUE: taskQueue, USER: 'cli-test', ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.once('error', reject);
      child.once('close', (code) =>
        resolve({
          code,
          stdout,
          stderr,
          json: <T>() => JSON.parse(stdout) as T,
          errorJson: () => JSON.parse(stderr) as Record<string, unknown>,
        }),
      );
    });
}
