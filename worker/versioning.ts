/**
 * The worker's part in Worker Versioning (issue 22).
 *
 * Routing, in short: once a deployment has a current version, the server sends new workflows on its
 * task queues to that build's pollers only; with no current version, new workflows go to
 * unversioned pollers, and a versioned worker alone on the queue would get nothing. So the first
 * build of a deployment adopts it (makes itself current: there is nothing older to break); every
 * later build starts inactive and takes new incidents only once `runbooks release promote` (or
 * `ramp`) passes the replay gate. Tests that run the worker unversioned set WORKER_VERSIONING=off.
 */
import type { Client } from '@temporalio/client';
import type { WorkerOptions } from '@temporalio/worker';
import type { VersioningConfig } from '../config/versioning';
import { describeDeployment, setCurrentVersion } from '../client/deployment';

/**
 * Versioned: every workflow is PINNED unless its definition says otherwise, so an incident finishes
 * on the code it started with; the target guard and the follow-up choose AUTO_UPGRADE (see them).
 */
export function deploymentOptions(v: VersioningConfig): Pick<WorkerOptions, 'workerDeploymentOptions'> {
  if (!v.enabled) return {};
  return {
    workerDeploymentOptions: {
      useWorkerVersioning: true,
      version: { deploymentName: v.deploymentName, buildId: v.buildId },
      defaultVersioningBehavior: 'PINNED',
    },
  };
}

export type AdoptionResult = 'adopted' | 'current' | 'waiting-for-promote';

/**
 * Once this worker polls (the server then knows the version): makes it current when the deployment
 * has no current version yet. Retries while the server has not registered the version.
 */
export async function adoptIfFirst(
  client: Client,
  v: VersioningConfig,
  log: (message: string, meta: Record<string, unknown>) => void,
  timeoutMs = 60_000,
): Promise<AdoptionResult> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const d = await describeDeployment(client, v.deploymentName).catch(() => undefined);
    if (d?.current === v.buildId) return 'current';
    if (d?.current) {
      log('this build takes new incidents once promoted: runbooks release promote', {
        deployment: v.deploymentName,
        buildId: v.buildId,
        current: d.current,
      });
      return 'waiting-for-promote';
    }
    try {
      await setCurrentVersion(client, v.deploymentName, v.buildId, `worker ${v.buildId} (first build)`);
      log('first build of the deployment: made current', {
        deployment: v.deploymentName,
        buildId: v.buildId,
      });
      return 'adopted';
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}
