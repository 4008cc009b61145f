/**
 * Bundles the workflows once for the whole run (webpack takes seconds per bundle on this machine);
 * every test worker loads the same file through `createTestWorker`.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';

export default async function globalSetup(): Promise<void> {
  const dir = path.join(__dirname, '../.cache');
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `test-workflow-bundle-${process.pid}.js`);
  const { code } = await bundleWorkflowCode({
    workflowsPath: require.resolve('../workflows'),
    logger: quiet,
  });
  writeFileSync(file, code);
  process.env.TEST_WORKFLOW_BUNDLE = file;
}

const noop = () => undefined;
const quiet = { trace: noop, debug: noop, info: noop, log: noop, warn: noop, error: noop };
