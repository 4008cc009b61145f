/** Temporal test environments on the project's own binaries (never the SDK's download). */
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { need } from './env';

export function timeSkippingEnv(): Promise<TestWorkflowEnvironment> {
  return TestWorkflowEnvironment.createTimeSkipping({
    server: { executable: { type: 'existing-path', path: need('TEMPORAL_TEST_SERVER_PATH') } },
  });
}

export const workflowsPath = require.resolve('../../workflows');
