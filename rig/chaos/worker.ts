#!/usr/bin/env node
/**
 * The worker-crash harness's worker: the production worker (worker/main.ts, same configuration from
 * the environment) plus the crash hooks of rig/chaos/hooks.ts. Test-only: production starts
 * dist/worker/main.js, which never loads this file or the hooks.
 */
import { main } from '../../worker/main';
import { chaosFromEnv, chaosInterceptors, chaosWorkflowModule } from './hooks';

const chaos = chaosFromEnv();
// With WORKER_WORKFLOW_BUNDLE the bundle already carries the workflow interceptor (test/chaos/rig.ts).
const bundled = Boolean(process.env.WORKER_WORKFLOW_BUNDLE);

main(
  chaos
    ? {
        interceptors: {
          ...chaosInterceptors(chaos),
          ...(bundled ? {} : { workflowModules: [chaosWorkflowModule] }),
        },
      }
    : {},
).catch((err: unknown) => {
  process.stderr.write(`worker failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
