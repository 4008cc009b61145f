/**
 * All activities, built from their outside systems. The worker hands in real clients; tests hand in
 * real clients pointed at the local stack. Workflows import only the type.
 */
import type Docker from 'dockerode';
import type { Pool } from 'pg';
import type { Redis } from 'ioredis';
import type Stripe from 'stripe';
import type { Client } from '@temporalio/client';
import { createDockerActivities } from './docker';
import { createHealthActivities, type HealthDeps } from './health';
import { createNotificationActivities, type NotifyDeps } from './notify';
import { createOwnerActivities } from './owners';
import { createPostgresActivities } from './postgres';
import { createPrometheusActivities } from './prometheus';
import { createRedisActivities } from './redis';
import { createReportActivities } from './report';
import { createScalingActivities } from './scaling';
import type { ApproverDirectory } from '../definitions/approval';
import { DEFAULT_REFUND_CAPS, type RefundCaps } from '../definitions/charges';
import type { TargetLeasePolicy } from '../definitions/policies/target-guard';
import { createApprovalActivities } from './approvals';
import type { LinkSettings } from './approval-links';
import { createBillingActivities, PostgresBillingStore, type BillingStore } from './billing';
import { createEvidenceActivities } from './evidence';
import { createGameDayActivities } from './game-day';
import { createStripeActivities } from './stripe';
import { createTargetGuardActivities, withGrantCheck } from './target-guard';
import { createWatchActivities } from './watch';
import { redisResultMemo, withOnceAcrossAttempts, type ResultMemo } from './result-memo';

export interface ActivityDeps {
  docker: Docker;
  /** The runbook role's pool on the application database (pg_stat_activity, terminate, billing store). */
  pg: Pool;
  redis: Redis;
  stripe: Stripe;
  /** The application's database roles (ACCUBOOKS_DB_ROLES): P0-2/P1-2 touch only their sessions. */
  appRoles: readonly string[];
  /** Same database, for tools that take a connection (pg_dump gets it through the environment). */
  postgresUrl: string;
  pgBinDir: string;
  prometheusUrl?: string;
  evidenceDir: string;
  health: HealthDeps;
  notify: NotifyDeps;
  /** A Temporal client, for the follow-up's draft report from the incident's history (optional). */
  temporal?: Client;
  /** Exact secret values that must never reach a report (config secrets). */
  reportSecrets?: readonly string[];
  /** P0-3/P0-4 approvers (roles -> people, channels); without it no approval code can be sent. */
  approvers?: ApproverDirectory;
  /** APPROVAL_CODE_KEY: the key of the approval codes' MACs (activities/approval-codes.ts). */
  approvalCodeKey?: Buffer;
  /** APPROVAL_PAGE_URL + APPROVAL_LINK_KEY: approval messages carry a link to the approval page. */
  approvalLinks?: LinkSettings;
  /** P0-3 billing switch: the store (default: billing_config through `pg`) and the app's key. */
  billing?: { store?: BillingStore; key: string };
  /** P0-3: what may be refunded without an approval (REFUND_CAP_*; default DEFAULT_REFUND_CAPS). */
  refundCaps?: RefundCaps;
  /** Tests of the guard's table with made-up requesters only (activities/target-guard.ts). */
  targetGuardTrustsRequesters?: boolean;
  /** Target guard policy overrides (restart rate limit, lease). */
  targetGuard?: Partial<TargetLeasePolicy>;
  /** INCIDENT_OWNERS: default owners of the post-incident follow-up. */
  incidentOwners?: readonly string[];
  /** Where retries find the results of side effects already done (default: Redis; null: none). */
  memo?: ResultMemo | null;
  /** GAMEDAY_TARGETS, GAMEDAY_WORKER_KILL (config/game-day.ts): where game days may act. */
  gameDay?: { targets: Record<string, string>; workerKill: boolean };
}

/**
 * Side effects a retry must not repeat when a worker died after doing them but before Temporal got
 * the result (found by the worker-crash harness, test/chaos/crash.test.ts): a second chat message or
 * mail, a second and different approval code (the first, already in the approver's inbox, would be
 * refused), and a terminate, cancel or scale-down whose retry finds nothing left and reports 0
 * sessions, queries or replicas. Their retries
 * return the recorded result of the attempt that did the work (activities/result-memo.ts).
 */
export const ONCE_ACROSS_ATTEMPTS = [
  'page',
  'sendEmail',
  'notifyRoles',
  'issueApprovalCodes',
  'terminateIdleSessions',
  'cancelQueries',
  'scaleWorkersDown',
] as const;

export const createActivities = (deps: ActivityDeps) => {
  const memo = deps.memo === null ? undefined : (deps.memo ?? redisResultMemo(deps.redis));
  return withOnceAcrossAttempts(
    memo,
    // The grant check runs inside the memo: a retry that finds the earlier attempt's result acts on nothing.
    withGrantCheck(allActivities({ ...deps, notify: { ...deps.notify, memo } })),
    ONCE_ACROSS_ATTEMPTS,
  );
};

const allActivities = (deps: ActivityDeps) => ({
  ...createHealthActivities(deps.health),
  ...createDockerActivities({ docker: deps.docker }),
  ...createNotificationActivities(deps.notify),
  ...createPostgresActivities({ pg: deps.pg, apiUrls: deps.health.apiUrls, appRoles: deps.appRoles }),
  ...createPrometheusActivities({ prometheusUrl: deps.prometheusUrl }),
  ...createRedisActivities({ redis: deps.redis }),
  ...createScalingActivities({ docker: deps.docker, apiUrls: deps.health.apiUrls }),
  ...createReportActivities({ temporal: deps.temporal, secrets: deps.reportSecrets }),
  ...createApprovalActivities({
    directory: deps.approvers ?? { approvers: [] },
    codeKey: deps.approvalCodeKey,
    links: deps.approvalLinks,
    notify: deps.notify,
  }),
  ...createBillingActivities({
    store: deps.billing?.store ?? new PostgresBillingStore(deps.pg),
    key: deps.billing?.key ?? 'default',
    apiUrls: deps.health.apiUrls,
  }),
  ...createStripeActivities({ stripe: deps.stripe, refundCaps: deps.refundCaps ?? DEFAULT_REFUND_CAPS }),
  ...createEvidenceActivities({
    evidenceDir: deps.evidenceDir,
    postgresUrl: deps.postgresUrl,
    pgBinDir: deps.pgBinDir,
  }),
  ...createTargetGuardActivities({
    policy: deps.targetGuard,
    trustRequesters: deps.targetGuardTrustsRequesters,
  }),
  ...createOwnerActivities({ incidentOwners: deps.incidentOwners }),
  ...createWatchActivities({
    pg: deps.pg,
    apiUrls: deps.health.apiUrls,
    prometheusUrl: deps.prometheusUrl,
    appRoles: deps.appRoles,
  }),
  ...createGameDayActivities({
    targets: deps.gameDay?.targets ?? {},
    workerKill: deps.gameDay?.workerKill ?? false,
    temporal: deps.temporal,
    prometheusUrl: deps.prometheusUrl,
  }),
});

export type Activities = ReturnType<typeof createActivities>;
