/** Temporal test environments on the project's own binaries (never the SDK's download). */
import type { Client } from '@temporalio/client';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker, type WorkerOptions } from '@temporalio/worker';
import { createIncidentMetrics, incidentMetricsSinks, type IncidentMetrics } from '../worker/metrics';
import { SearchAttributeType } from '@temporalio/common';
import { FOLLOW_UP_SEARCH_ATTRIBUTES, INCIDENT_SEARCH_ATTRIBUTES } from '../workflows/search-attributes';
import { need } from './env';
import { dataConverterFor } from '../common/codec';
import { loadTemporalConfig } from '../config/temporal';

/** Temporal's IndexedValueType numbers, as the operator API takes them. */
const indexedValueType: Partial<Record<SearchAttributeType, number>> = {
  [SearchAttributeType.KEYWORD]: 2,
  [SearchAttributeType.BOOL]: 5,
  [SearchAttributeType.KEYWORD_LIST]: 7,
};

/** The time-skipping server, with the incident search attributes registered as the dev server has them. */
export async function timeSkippingEnv(): Promise<TestWorkflowEnvironment> {
  const env = await TestWorkflowEnvironment.createTimeSkipping({
    server: { executable: { type: 'existing-path', path: need('TEMPORAL_TEST_SERVER_PATH') } },
    client: { dataConverter: testDataConverter() },
  });
  await env.connection.operatorService.addSearchAttributes({
    namespace: env.namespace ?? 'default',
    searchAttributes: Object.fromEntries(
      [...INCIDENT_SEARCH_ATTRIBUTES, ...FOLLOW_UP_SEARCH_ATTRIBUTES].map((k) => [
        k.name,
        indexedValueType[k.type]!,
      ]),
    ),
  });
  return env;
}

export const workflowsPath = require.resolve('../workflows');

/** The workflow code for test workers: the bundle made once in global setup, else the source. */
export function workflowSource(): Pick<WorkerOptions, 'workflowBundle' | 'workflowsPath'> {
  const codePath = process.env.TEST_WORKFLOW_BUNDLE;
  return codePath ? { workflowBundle: { codePath } } : { workflowsPath };
}

/** The codec when the environment configures PAYLOAD_CODEC_KEYS (the test stack may), else the default. */
export function testDataConverter() {
  return dataConverterFor({ codecKeys: loadTemporalConfig().codecKeys });
}

export type TestWorkerOptions = Omit<WorkerOptions, 'workflowsPath' | 'workflowBundle' | 'sinks'> & {
  /** The incident metrics the sinks feed (a test that reads them passes its own). */
  metrics?: IncidentMetrics;
};

/** A worker as the real one is built: the runbooks' workflows, the incident-metrics sinks, the codec. */
export function createTestWorker({ metrics, ...options }: TestWorkerOptions): Promise<Worker> {
  return Worker.create({
    ...options,
    ...workflowSource(),
    sinks: incidentMetricsSinks(metrics ?? createIncidentMetrics()),
    dataConverter: options.dataConverter ?? testDataConverter(),
  });
}

/** Nothing a test started may outlive it: terminates what still runs on its task queue. */
export async function terminateTaskQueue(client: Client, taskQueue: string): Promise<void> {
  for await (const wf of client.workflow.list({
    query: `TaskQueue = '${taskQueue}' AND ExecutionStatus = 'Running'`,
  })) {
    await client.workflow
      .getHandle(wf.workflowId, wf.runId)
      .terminate('test cleanup')
      .catch(() => undefined);
  }
}
