/**
 * Workflows for the benchmarks only, bundled beside the runbooks (bench/workflows.ts) so both run on
 * one worker with the same settings:
 *   floorWorkflow  the bare-SDK floor: an empty workflow whose first step is one activity
 *   gateWorkflow   a light approval gate: wait for one signal, then run one activity
 */
import { condition, defineSignal, proxyActivities, setHandler } from '@temporalio/workflow';
import type { BenchActivities } from './floor-activities';

const { benchStep } = proxyActivities<BenchActivities>({
  startToCloseTimeout: '30 seconds',
  retry: { maximumAttempts: 3 },
});

export const benchApproveSignal = defineSignal<[{ by: string }]>('benchApprove');

export async function floorWorkflow(): Promise<string> {
  return benchStep('floor');
}

export async function gateWorkflow(): Promise<string> {
  let approvedBy: string | undefined;
  setHandler(benchApproveSignal, ({ by }) => {
    approvedBy = by;
  });
  await condition(() => approvedBy !== undefined);
  return benchStep(`approved by ${approvedBy}`);
}
