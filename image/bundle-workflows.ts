#!/usr/bin/env node
/**
 * Bundles the runbook workflows once, at image build time: `node dist/image/bundle-workflows.js
 * <out.js>`. The image's worker loads the file (WORKER_WORKFLOW_BUNDLE, worker/main.ts) instead of
 * running webpack at every start, which takes seconds and writes nothing here either.
 */
import { writeFileSync } from 'node:fs';
import { bundleWorkflowCode } from '@temporalio/worker';

async function main(out: string | undefined): Promise<void> {
  if (!out) throw new Error('usage: node dist/image/bundle-workflows.js <out.js>');
  const { code } = await bundleWorkflowCode({ workflowsPath: require.resolve('../workflows') });
  writeFileSync(out, code);
  process.stdout.write(`workflow bundle: ${out} (${(code.length / 1024).toFixed(0)} KiB)\n`);
}

if (require.main === module) {
  main(process.argv[2]).catch((err: unknown) => {
    process.stderr.write(`bundle-workflows failed: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
