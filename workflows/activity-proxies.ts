/**
 * One activity proxy per service level. Checks are read-only and retry freely; actions change the
 * world and get few attempts (each activity is idempotent by its own guard); notifications retry
 * long because a page must get through.
 */
import { proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities';

const nonRetryableErrorTypes = ['CONTAINER_NOT_FOUND', 'UNKNOWN_TARGET', 'INVALID_INPUT', 'ACTION_REFUSED'];

/** Read-only checks: a few quick retries, then the runbook records the failure and re-checks later. */
export const checks = proxyActivities<Activities>({
  startToCloseTimeout: '1 minute',
  retry: {
    initialInterval: '1s',
    backoffCoefficient: 2,
    maximumInterval: '15s',
    maximumAttempts: 4,
    nonRetryableErrorTypes,
  },
});

/** Checks that poll for a while inside one activity (heartbeating), e.g. "verify health returns 200". */
export const polls = proxyActivities<Activities>({
  startToCloseTimeout: '30 minutes',
  heartbeatTimeout: '30 seconds',
  retry: {
    initialInterval: '2s',
    backoffCoefficient: 2,
    maximumInterval: '30s',
    maximumAttempts: 3,
    nonRetryableErrorTypes,
  },
});

/**
 * Verification loops (P0-2, P1-1, P1-2, P1-3): `watchSamples` takes one sample per attempt and asks
 * for the next attempt after the sample interval (`nextRetryDelay`) until something the workflow
 * reacts to changes (activities/watch.ts). So: no attempt limit here; the activity returns at the
 * workflow's deadline itself, and each call gets a schedule-to-close backstop. Unexpected failures
 * (a worker lost mid-attempt) back off like any check.
 */
export const watches = proxyActivities<Activities>({
  startToCloseTimeout: '2 minutes',
  heartbeatTimeout: '2 minutes',
  retry: {
    initialInterval: '5s',
    backoffCoefficient: 2,
    maximumInterval: '10 minutes',
    nonRetryableErrorTypes,
  },
});

/** Mutations (restart, stop, terminate, refund): few attempts, each guarded against acting twice. */
export const actions = proxyActivities<Activities>({
  startToCloseTimeout: '3 minutes',
  retry: {
    initialInterval: '2s',
    backoffCoefficient: 2,
    maximumInterval: '30s',
    maximumAttempts: 3,
    nonRetryableErrorTypes,
  },
});

/** Pages and messages: keep trying for a while; a page that never arrives is the worst outcome. */
export const notifications = proxyActivities<Activities>({
  startToCloseTimeout: '1 minute',
  retry: {
    initialInterval: '2s',
    backoffCoefficient: 2,
    maximumInterval: '1 minute',
    maximumAttempts: 8,
    nonRetryableErrorTypes,
  },
});
