/**
 * The Worker Deployment of the runbook workers as the server sees it (issue 22): which build is
 * current, which ramps, which drain, and how many open workflows each still holds. The 1.24 client
 * has no Worker Deployment API of its own, so this speaks the WorkflowService calls the
 * `temporal worker deployment` commands use.
 */
import type { Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';

const { WorkerDeploymentVersionStatus: Status, VersionDrainageStatus: Drainage } = temporal.api.enums.v1;

export type VersionStatus = 'inactive' | 'current' | 'ramping' | 'draining' | 'drained' | 'unknown';

export interface DeploymentVersion {
  buildId: string;
  status: VersionStatus;
  /** The server's drainage check (it runs every few minutes): draining, drained, or unknown yet. */
  drainage?: 'draining' | 'drained';
  createTime?: Date;
  /** When it was last the current version (a rollback goes back to the latest such one). */
  lastCurrentTime?: Date;
}

export interface Deployment {
  name: string;
  current?: string;
  ramping?: { buildId: string; percentage: number };
  versions: DeploymentVersion[];
}

const statusName = (s: number | null | undefined): VersionStatus => {
  switch (s) {
    case Status.WORKER_DEPLOYMENT_VERSION_STATUS_INACTIVE:
      return 'inactive';
    case Status.WORKER_DEPLOYMENT_VERSION_STATUS_CURRENT:
      return 'current';
    case Status.WORKER_DEPLOYMENT_VERSION_STATUS_RAMPING:
      return 'ramping';
    case Status.WORKER_DEPLOYMENT_VERSION_STATUS_DRAINING:
      return 'draining';
    case Status.WORKER_DEPLOYMENT_VERSION_STATUS_DRAINED:
      return 'drained';
    default:
      return 'unknown';
  }
};

const toDate = (t: { seconds?: Long | number | null } | null | undefined) =>
  t?.seconds ? new Date(Number(t.seconds) * 1000) : undefined;
type Long = { toString(): string };

const isNotFound = (err: unknown) => (err as { code?: number }).code === 5; // gRPC NOT_FOUND

/** The deployment, or undefined when no worker of it has polled yet. */
export async function describeDeployment(client: Client, name: string): Promise<Deployment | undefined> {
  let info;
  try {
    ({ workerDeploymentInfo: info } = await client.workflowService.describeWorkerDeployment({
      namespace: client.options.namespace,
      deploymentName: name,
    }));
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
  const routing = info?.routingConfig;
  const rampingBuild = routing?.rampingDeploymentVersion?.buildId;
  return {
    name,
    current: routing?.currentDeploymentVersion?.buildId ?? undefined,
    ramping: rampingBuild
      ? { buildId: rampingBuild, percentage: routing?.rampingVersionPercentage ?? 0 }
      : undefined,
    versions: (info?.versionSummaries ?? []).map((v) => {
      const drainage = v.drainageInfo?.status ?? v.drainageStatus;
      return {
        buildId: v.deploymentVersion?.buildId ?? '?',
        status: statusName(v.status),
        drainage:
          drainage === Drainage.VERSION_DRAINAGE_STATUS_DRAINING
            ? 'draining'
            : drainage === Drainage.VERSION_DRAINAGE_STATUS_DRAINED
              ? 'drained'
              : undefined,
        createTime: toDate(v.createTime),
        lastCurrentTime: toDate(v.lastCurrentTime),
      };
    }),
  };
}

/** Routes every new workflow of the deployment's task queues to this build. */
export async function setCurrentVersion(client: Client, name: string, buildId: string, identity: string) {
  await client.workflowService.setWorkerDeploymentCurrentVersion({
    namespace: client.options.namespace,
    deploymentName: name,
    buildId,
    identity,
  });
}

/** Routes `percentage` % of new workflows to this build (0 with an empty build ID: no ramp). */
export async function setRampingVersion(
  client: Client,
  name: string,
  buildId: string,
  percentage: number,
  identity: string,
) {
  await client.workflowService.setWorkerDeploymentRampingVersion({
    namespace: client.options.namespace,
    deploymentName: name,
    buildId,
    percentage,
    identity,
  });
}

/**
 * The visibility query for the open workflows a build holds: pinned to it (the incidents; a guard or
 * follow-up passing through is AUTO_UPGRADE and moves on), from the server's own search attributes.
 */
export const openOnVersionQuery = (name: string, buildId: string) =>
  `TemporalWorkerDeploymentVersion = '${name}:${buildId}' AND ExecutionStatus = 'Running' AND TemporalWorkflowVersioningBehavior = 'Pinned'`;

/** How many open incidents (pinned workflows) a build still holds: 0 means it has drained. */
export async function openOnVersion(client: Client, name: string, buildId: string): Promise<number> {
  const { count } = await client.workflowService.countWorkflowExecutions({
    namespace: client.options.namespace,
    query: openOnVersionQuery(name, buildId),
  });
  return Number(count ?? 0);
}
