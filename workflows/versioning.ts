/**
 * Worker Versioning behaviour a workflow declares (issue 22). Declared only on a versioned worker:
 * the server refuses a workflow task completion that names a behaviour when the worker is not
 * versioned ("versioning behavior cannot be specified without deployment options"), which would
 * wedge every guard and follow-up of an unversioned worker (WORKER_VERSIONING=off, the tests).
 */
import type { WorkflowDefinitionOptions } from '@temporalio/common';
import { workflowInfo } from '@temporalio/workflow';

/** AUTO_UPGRADE on a versioned worker (it has a deployment name), nothing otherwise. */
export const autoUpgradeWhenVersioned = (): WorkflowDefinitionOptions =>
  workflowInfo().currentDeploymentVersion?.deploymentName ? { versioningBehavior: 'AUTO_UPGRADE' } : {};
