/**
 * The worker's config: every outside system the runbooks act on, on top of Temporal.
 *
 * Read from the environment once, validated with zod, and rejected as a whole with a message that names
 * every missing or invalid variable. Secrets are kept in the object but `describeConfig` is the only
 * way to print it, and it masks them.
 */
import { z } from 'zod';
import { DEFAULT_REFUND_CAPS, type RefundCaps } from '../definitions/charges';
import { describeApprovers, parseApprovers } from './approvers';
import { type ApproverDirectory } from '../definitions/approval';
import type { LinkSettings } from '../activities/approval-links';
import { loadApprovalLinks } from './approval-links';
import { ConfigError, parseEnv as parse, type RawEnv } from './errors';
import { commaList, maskUrl, port, setOrUnset as set, url } from './fields';
import { describeTemporal, temporalFrom, temporalSchema, type TemporalConfig } from './temporal';
import { versioningFrom, versioningSchema, type VersioningConfig } from './versioning';
import { workerMemoryFrom, workerMemorySchema, type WorkerMemoryConfig } from './worker-memory';

const refundCap = z.coerce
  .number({ message: 'must be a whole number' })
  .int({ message: 'must be a whole number' })
  .min(0, { message: 'must be 0 (every refund needs approval) or more' })
  .max(Number.MAX_SAFE_INTEGER);

/** The settings shared with other files: Temporal, Worker Versioning, memory. */
const sharedSchemas = temporalSchema.merge(versioningSchema).merge(workerMemorySchema);

/** Every variable the worker reads, with its default where a safe local one exists. */
const workerSchema = sharedSchemas.extend({
  RUNBOOK_DATABASE_URL: url(['postgres', 'postgresql']),
  PG_BIN_DIR: z.string().default('/usr/lib/postgresql/15/bin'),
  REDIS_URL: url(['redis', 'rediss']),
  DOCKER_HOST: z
    .string()
    .regex(/^(unix:\/\/\/.+|tcp:\/\/[^:]+:\d+)$/, {
      message: 'must be unix:///path/docker.sock or tcp://host:port',
    })
    .default('unix:///var/run/docker.sock'),
  STRIPE_API_KEY: z
    .string()
    .regex(/^(sk|rk)_(test|live)_\w+$/, { message: 'must look like sk_test_… or sk_live_…' }),
  STRIPE_API_BASE: url(['http', 'https']).optional(),

  ACCUBOOKS_API_URL: url(['http', 'https']),
  ACCUBOOKS_API_CONTAINER: z
    .string()
    .regex(/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/, { message: 'must be a Docker container name' })
    .default('accubooks-api'),
  /**
   * The application's PostgreSQL roles, comma-separated: P0-2 terminates and P1-2 cancels only
   * sessions of these roles (in the application's database). A role that matches no session makes
   * P0-2 say so instead of terminating nothing in silence.
   */
  ACCUBOOKS_DB_ROLES: commaList
    .superRefine((list, ctx) => {
      const bad = list.filter((r) => !/^[A-Za-z_][A-Za-z0-9_$]{0,62}$/.test(r));
      if (!list.length || bad.length) {
        ctx.addIssue({
          code: 'custom',
          message: `must be comma-separated PostgreSQL role names, e.g. accubooks${bad.length ? ` ("${bad.join('", "')}" is not one)` : ''}`,
        });
      }
    })
    .default(['accubooks']),
  PROMETHEUS_URL: url(['http', 'https']).optional(),

  NOTIFY_SLACK_WEBHOOK_URL: url(['http', 'https']).optional(),
  NOTIFY_PAGERDUTY_EVENTS_URL: url(['http', 'https']).default('https://events.pagerduty.com/v2/enqueue'),
  PAGERDUTY_ROUTING_KEY: z.string().min(1).optional(),
  SMTP_URL: url(['smtp', 'smtps']).optional(),
  SMTP_FROM: z.string().email({ message: 'must be an email address' }).default('runbooks@accubooks.local'),

  EVIDENCE_DIR: z.string().min(1).default('launch/evidence'),
  /** P0-3/P0-4 approvals: roles -> people and their channels (config/approvers.ts), inline or a file. */
  APPROVERS_JSON: z.string().optional(),
  APPROVERS_FILE: z.string().optional(),
  /**
   * The key of the approval codes' MACs (activities/approval-codes.ts): only the worker holds it, so
   * nothing in history can be used to test a guessed code. Required once approvers are configured.
   */
  APPROVAL_CODE_KEY: z.string().min(32, { message: 'must be at least 32 characters' }).optional(),
  /** P0-3: the row of billing_config the app reads, and who may update it (default: RUNBOOK_DATABASE_URL). */
  BILLING_KEY: z
    .string()
    .regex(/^[A-Za-z0-9_.:-]{1,64}$/, { message: 'must be a short key like default' })
    .default('default'),
  BILLING_DATABASE_URL: url(['postgres', 'postgresql']).optional(),
  /**
   * P0-3 refund caps (activities/stripe.ts): automatic refunds stay within them; a refund past one
   * waits for the resume-billing roles' approval. Worker configuration only: a trigger cannot raise
   * them. Amounts are in the charge's smallest currency unit (cents).
   */
  REFUND_CAP_PER_CHARGE: refundCap.default(DEFAULT_REFUND_CAPS.perCharge),
  REFUND_CAP_PER_INCIDENT: refundCap.default(DEFAULT_REFUND_CAPS.perIncidentTotal),
  REFUND_CAP_COUNT_PER_INCIDENT: refundCap.default(DEFAULT_REFUND_CAPS.perIncidentCount),
  WORKER_HEALTH_PORT: port.default(0),
  /** Where /healthz and /metrics listen: loopback unless an orchestrator probes from outside (the image: 0.0.0.0). */
  WORKER_HEALTH_HOST: z.string().min(1).default('127.0.0.1'),
  /** The Temporal SDK's own Prometheus endpoint (worker/task-slot/poll metrics, `temporal_*`); 0 = off. */
  WORKER_SDK_METRICS_PORT: port.default(0),
  /** Default owners of every post-incident follow-up: comma-separated emails. */
  INCIDENT_OWNERS: commaList
    .superRefine((list, ctx) => {
      const bad = list.filter((e) => !z.string().email().safeParse(e).success);
      if (!list.length || bad.length) {
        ctx.addIssue({
          code: 'custom',
          message: `must be comma-separated email addresses${bad.length ? ` ("${bad.join('", "')}" is not one)` : ''}`,
        });
      }
    })
    .optional(),
});

export interface WorkerConfig {
  temporal: TemporalConfig;
  /** WORKER_VERSIONING, WORKER_DEPLOYMENT_NAME, WORKER_BUILD_ID (config/versioning.ts). */
  versioning: VersioningConfig;
  /** WORKER_V8_SEMI_SPACE_MB, WORKER_MAX_CACHED_WORKFLOWS (config/worker-memory.ts). */
  memory: WorkerMemoryConfig;
  postgres: { url: string; binDir: string };
  redis: { url: string };
  docker: { host: string };
  stripe: { apiKey: string; apiBase?: string };
  /** The application: its API, its container, its database roles (ACCUBOOKS_DB_ROLES). */
  accubooks: { apiUrl: string; container: string; dbRoles: string[] };
  prometheus: { url?: string };
  notify: {
    slackWebhookUrl?: string;
    pagerDutyEventsUrl: string;
    pagerDutyRoutingKey?: string;
    smtpUrl?: string;
    smtpFrom: string;
  };
  evidenceDir: string;
  healthPort: number;
  healthHost: string;
  /** Port of the SDK's Prometheus endpoint on 127.0.0.1; 0 = off. */
  sdkMetricsPort: number;
  approvers: ApproverDirectory;
  /** APPROVAL_CODE_KEY as bytes (absent: no approval code can be issued or checked). */
  approvalCodeKey?: Buffer;
  /** APPROVAL_PAGE_URL + APPROVAL_LINK_KEY (config/approval-page.ts): links in approval messages. */
  approvalLinks?: LinkSettings;
  billing: { key: string; databaseUrl?: string };
  /** P0-3: what may be refunded without an approval (REFUND_CAP_*). */
  refundCaps: RefundCaps;
  /** INCIDENT_OWNERS: the follow-up's owners when the incident names none (empty: the policy default). */
  incidentOwners: string[];
}

/** Config for the worker: every outside system the runbooks act on. */
export function loadWorkerConfig(env: RawEnv = process.env): WorkerConfig {
  const e = parse(workerSchema, env);
  const approvers = parseApprovers(e.APPROVERS_JSON, e.APPROVERS_FILE);
  if (approvers.problems.length) throw new ConfigError(approvers.problems);
  if (approvers.directory.approvers.length > 0 && !e.APPROVAL_CODE_KEY) {
    throw new ConfigError([
      'APPROVAL_CODE_KEY is missing: approvers are configured, and their one-time codes need the key (at least 32 characters, e.g. `openssl rand -base64 48`)',
    ]);
  }
  return {
    temporal: temporalFrom(e),
    versioning: versioningFrom(e),
    memory: workerMemoryFrom(e),
    postgres: { url: e.RUNBOOK_DATABASE_URL, binDir: e.PG_BIN_DIR },
    redis: { url: e.REDIS_URL },
    docker: { host: e.DOCKER_HOST },
    stripe: { apiKey: e.STRIPE_API_KEY, apiBase: e.STRIPE_API_BASE },
    accubooks: {
      apiUrl: e.ACCUBOOKS_API_URL,
      container: e.ACCUBOOKS_API_CONTAINER,
      dbRoles: e.ACCUBOOKS_DB_ROLES,
    },
    prometheus: { url: e.PROMETHEUS_URL },
    notify: {
      slackWebhookUrl: e.NOTIFY_SLACK_WEBHOOK_URL,
      pagerDutyEventsUrl: e.NOTIFY_PAGERDUTY_EVENTS_URL,
      pagerDutyRoutingKey: e.PAGERDUTY_ROUTING_KEY,
      smtpUrl: e.SMTP_URL,
      smtpFrom: e.SMTP_FROM,
    },
    evidenceDir: e.EVIDENCE_DIR,
    healthPort: e.WORKER_HEALTH_PORT,
    healthHost: e.WORKER_HEALTH_HOST,
    sdkMetricsPort: e.WORKER_SDK_METRICS_PORT,
    approvers: approvers.directory,
    approvalCodeKey: e.APPROVAL_CODE_KEY ? Buffer.from(e.APPROVAL_CODE_KEY, 'utf8') : undefined,
    approvalLinks: loadApprovalLinks(env),
    billing: { key: e.BILLING_KEY, databaseUrl: e.BILLING_DATABASE_URL },
    refundCaps: {
      perCharge: e.REFUND_CAP_PER_CHARGE,
      perIncidentTotal: e.REFUND_CAP_PER_INCIDENT,
      perIncidentCount: e.REFUND_CAP_COUNT_PER_INCIDENT,
    },
    incidentOwners: e.INCIDENT_OWNERS ?? [],
  };
}

/** The config as it may be logged: passwords masked, keys reduced to set/unset. */
export function describeConfig(c: WorkerConfig): Record<string, unknown> {
  return {
    temporal: describeTemporal(c.temporal),
    versioning: c.versioning,
    memory: c.memory,
    postgres: { url: maskUrl(c.postgres.url), binDir: c.postgres.binDir },
    redis: { url: maskUrl(c.redis.url) },
    docker: c.docker,
    stripe: { apiKey: set(c.stripe.apiKey), apiBase: c.stripe.apiBase },
    accubooks: c.accubooks,
    prometheus: c.prometheus,
    notify: {
      slackWebhookUrl: set(c.notify.slackWebhookUrl),
      pagerDutyEventsUrl: c.notify.pagerDutyEventsUrl,
      pagerDutyRoutingKey: set(c.notify.pagerDutyRoutingKey),
      smtpUrl: maskUrl(c.notify.smtpUrl),
      smtpFrom: c.notify.smtpFrom,
    },
    evidenceDir: c.evidenceDir,
    healthPort: c.healthPort,
    healthHost: c.healthHost,
    sdkMetricsPort: c.sdkMetricsPort,
    approvers: describeApprovers(c.approvers),
    approvalCodeKey: set(c.approvalCodeKey),
    approvalLinks: c.approvalLinks ? { pageUrl: c.approvalLinks.pageUrl, key: 'set' } : 'off',
    billing: { key: c.billing.key, databaseUrl: maskUrl(c.billing.databaseUrl) },
    refundCaps: c.refundCaps,
    incidentOwners: c.incidentOwners,
  };
}
