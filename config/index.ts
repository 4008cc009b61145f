/**
 * One typed configuration for every process (worker, intake, CLI, tests).
 *
 * Read from the environment once, validated with zod, and rejected as a whole with a message that names
 * every missing or invalid variable. Secrets are kept in the object but `describeConfig` is the only
 * way to print it, and it masks them.
 */
import { z } from 'zod';
import { DEFAULT_REFUND_CAPS, type RefundCaps } from '../definitions/charges';
import { describeApprovers, parseApprovers } from './approvers';
import { type ApproverDirectory } from '../definitions/approval';
import { parseCodecKeys, type CodecKey } from '../common/codec';
import type { LinkSettings } from '../activities/approval-links';
import { loadApprovalLinks } from './approval-links';
import { ConfigError, parseEnv as parse, type RawEnv } from './errors';

const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'], { message: 'must be true or false' })
  .transform((v) => v === 'true' || v === '1' || v === 'yes');

const url = (protocols: string[]) =>
  z
    .string()
    .url({ message: 'must be a URL' })
    .refine((v) => protocols.includes(new URL(v).protocol.replace(/:$/, '')), {
      message: `must use ${protocols.join(' or ')}`,
    });

const hostPort = z
  .string()
  .regex(/^[A-Za-z0-9_.:[\]-]+:\d{1,5}$/, { message: 'must be host:port, e.g. 127.0.0.1:7233' });

const port = z.coerce.number().int().min(0).max(65535);

const refundCap = z.coerce
  .number({ message: 'must be a whole number' })
  .int({ message: 'must be a whole number' })
  .min(0, { message: 'must be 0 (every refund needs approval) or more' })
  .max(Number.MAX_SAFE_INTEGER);

/** Every variable the project reads, with its default where a safe local one exists. */
const envSchema = z.object({
  TEMPORAL_ADDRESS: hostPort.default('127.0.0.1:7233'),
  TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
  TEMPORAL_TASK_QUEUE: z.string().min(1).default('accubooks-runbooks'),
  TEMPORAL_TLS: bool.default(false),
  TEMPORAL_TLS_CERT_PATH: z.string().optional(),
  TEMPORAL_TLS_KEY_PATH: z.string().optional(),
  TEMPORAL_TLS_CA_PATH: z.string().optional(),
  TEMPORAL_TLS_SERVER_NAME: z.string().optional(),
  TEMPORAL_API_KEY: z.string().optional(),
  /** Encrypted history (common/codec.ts): `id1:base64key,id2:base64key`, the first encrypts. Unset = off. */
  PAYLOAD_CODEC_KEYS: z
    .string()
    .superRefine((v, ctx) => {
      for (const problem of parseCodecKeys(v).problems) ctx.addIssue({ code: 'custom', message: problem });
    })
    .optional(),

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
  ACCUBOOKS_DB_ROLES: z
    .string()
    .transform((v) =>
      v
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
    )
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
  /** The Temporal SDK's own Prometheus endpoint (worker/task-slot/poll metrics, `temporal_*`); 0 = off. */
  WORKER_SDK_METRICS_PORT: port.default(0),
  /** Default owners of every post-incident follow-up: comma-separated emails. */
  INCIDENT_OWNERS: z
    .string()
    .transform((v) =>
      v
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
    )
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

export type Env = z.infer<typeof envSchema>;

/** Which variables each process needs: the CLI needs only Temporal, the worker needs everything. */
const temporalKeys = [
  'TEMPORAL_ADDRESS',
  'TEMPORAL_NAMESPACE',
  'TEMPORAL_TASK_QUEUE',
  'TEMPORAL_TLS',
  'TEMPORAL_TLS_CERT_PATH',
  'TEMPORAL_TLS_KEY_PATH',
  'TEMPORAL_TLS_CA_PATH',
  'TEMPORAL_TLS_SERVER_NAME',
  'TEMPORAL_API_KEY',
  'PAYLOAD_CODEC_KEYS',
] as const;

export interface TemporalConfig {
  address: string;
  namespace: string;
  taskQueue: string;
  tls?: { certPath?: string; keyPath?: string; caPath?: string; serverName?: string };
  apiKey?: string;
  /** Payload encryption keys, the active one first; absent = payloads stored in clear. */
  codecKeys?: CodecKey[];
}

export interface WorkerConfig {
  temporal: TemporalConfig;
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

export { ConfigError } from './errors';

function temporalFrom(e: Pick<Env, (typeof temporalKeys)[number]>): TemporalConfig {
  const tlsFiles = e.TEMPORAL_TLS_CERT_PATH || e.TEMPORAL_TLS_KEY_PATH || e.TEMPORAL_TLS_CA_PATH;
  return {
    address: e.TEMPORAL_ADDRESS,
    namespace: e.TEMPORAL_NAMESPACE,
    taskQueue: e.TEMPORAL_TASK_QUEUE,
    tls:
      e.TEMPORAL_TLS || tlsFiles || e.TEMPORAL_API_KEY
        ? {
            certPath: e.TEMPORAL_TLS_CERT_PATH,
            keyPath: e.TEMPORAL_TLS_KEY_PATH,
            caPath: e.TEMPORAL_TLS_CA_PATH,
            serverName: e.TEMPORAL_TLS_SERVER_NAME,
          }
        : undefined,
    apiKey: e.TEMPORAL_API_KEY,
    codecKeys: e.PAYLOAD_CODEC_KEYS ? parseCodecKeys(e.PAYLOAD_CODEC_KEYS).keys : undefined,
  };
}

/** The Temporal config as it may be logged: the API key set/unset, codec keys by ID only. */
function describeTemporal(t: TemporalConfig): Record<string, unknown> {
  return { ...t, apiKey: set(t.apiKey), codecKeys: t.codecKeys?.map((k) => k.id) ?? 'off' };
}

/** Config for processes that only talk to Temporal (CLI, intake, tests' clients). */
export function loadTemporalConfig(env: RawEnv = process.env): TemporalConfig {
  const schema = envSchema.pick(
    Object.fromEntries(temporalKeys.map((k) => [k, true])) as Record<(typeof temporalKeys)[number], true>,
  );
  return temporalFrom(parse(schema, env));
}

/** Config for the worker: every outside system the runbooks act on. */
export function loadWorkerConfig(env: RawEnv = process.env): WorkerConfig {
  const e = parse(envSchema, env);
  const approvers = parseApprovers(e.APPROVERS_JSON, e.APPROVERS_FILE);
  if (approvers.problems.length) throw new ConfigError(approvers.problems);
  if (approvers.directory.approvers.length > 0 && !e.APPROVAL_CODE_KEY) {
    throw new ConfigError([
      'APPROVAL_CODE_KEY is missing: approvers are configured, and their one-time codes need the key (at least 32 characters, e.g. `openssl rand -base64 48`)',
    ]);
  }
  return {
    temporal: temporalFrom(e),
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

/** A URL with its password (and any token in the query) replaced, safe for logs. */
export function maskUrl(raw: string | undefined): string | undefined {
  if (!raw) return raw;
  try {
    const u = new URL(raw);
    if (u.password) u.password = '***';
    for (const key of [...u.searchParams.keys()]) {
      if (/key|token|secret|password/i.test(key)) u.searchParams.set(key, '***');
    }
    return u.toString();
  } catch {
    return '***';
  }
}

const set = (v: unknown) => (v ? 'set' : 'unset');

/** The config as it may be logged: passwords masked, keys reduced to set/unset. */
export function describeConfig(c: WorkerConfig): Record<string, unknown> {
  return {
    temporal: describeTemporal(c.temporal),
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
    sdkMetricsPort: c.sdkMetricsPort,
    approvers: describeApprovers(c.approvers),
    approvalCodeKey: set(c.approvalCodeKey),
    approvalLinks: c.approvalLinks ? { pageUrl: c.approvalLinks.pageUrl, key: 'set' } : 'off',
    billing: { key: c.billing.key, databaseUrl: maskUrl(c.billing.databaseUrl) },
    refundCaps: c.refundCaps,
    incidentOwners: c.incidentOwners,
  };
}

const codecSecrets = (t: TemporalConfig) => (t.codecKeys ?? []).map((k) => k.key.toString('base64'));

/** Every secret value in a config, for the leak scan in tests. */
export function secretsOf(c: WorkerConfig | IntakeConfig): string[] {
  const passwordsOf = (urls: (string | undefined)[]) =>
    urls
      .map((u) => {
        try {
          return u ? decodeURIComponent(new URL(u).password) : '';
        } catch {
          return '';
        }
      })
      .filter((p) => p.length >= 4);
  if ('intake' in c) {
    return [
      c.temporal.apiKey,
      c.intake.bearerToken,
      c.intake.hmacSecret,
      c.intake.basicAuth?.password,
      ...passwordsOf([c.intake.fold.redisUrl]),
      ...codecSecrets(c.temporal),
    ].filter((s): s is string => typeof s === 'string' && s.length > 0);
  }
  const passwords = passwordsOf([c.postgres.url, c.redis.url, c.notify.smtpUrl, c.billing.databaseUrl]);
  return [
    c.stripe.apiKey,
    c.temporal.apiKey,
    ...codecSecrets(c.temporal),
    c.notify.pagerDutyRoutingKey,
    c.notify.slackWebhookUrl,
    ...c.approvers.approvers.map((a) => a.webhookUrl),
    c.approvalCodeKey?.toString('utf8'),
    c.approvalLinks?.key.toString('utf8'),
    ...passwords,
  ].filter((s): s is string => typeof s === 'string' && s.length > 0);
}

// --- Alert intake (client/intake) --------------------------------------------------------------

const intakeSchema = z.object({
  INTAKE_HOST: z.string().min(1).default('127.0.0.1'),
  INTAKE_PORT: port.default(9095),
  /** Bearer token callers send as `Authorization: Bearer <token>` (Alertmanager's http_config). */
  INTAKE_BEARER_TOKEN: z.string().min(16, { message: 'must be at least 16 characters' }).optional(),
  /** Shared secret for `X-Signature-256: sha256=<hex HMAC-SHA256 of the raw body>`. */
  INTAKE_HMAC_SECRET: z.string().min(16, { message: 'must be at least 16 characters' }).optional(),
  /**
   * HTTP basic auth (Alertmanager's `basic_auth` in http_config), for an Alertmanager whose
   * receivers already use it: both set, or neither.
   */
  INTAKE_BASIC_AUTH_USERNAME: z
    .string()
    .min(1)
    .max(256)
    .regex(/^[^:]+$/, { message: 'must not contain ":" (basic auth splits on the first one)' })
    .optional(),
  INTAKE_BASIC_AUTH_PASSWORD: z.string().min(16, { message: 'must be at least 16 characters' }).optional(),
  INTAKE_BODY_LIMIT_BYTES: z.coerce
    .number()
    .int()
    .min(1024)
    .max(16 * 1024 * 1024)
    .default(1024 * 1024),
  /** Alert labels that name the target container, first present wins. */
  INTAKE_TARGET_LABELS: z
    .string()
    .regex(/^[A-Za-z_][A-Za-z0-9_]*(,[A-Za-z_][A-Za-z0-9_]*)*$/, {
      message: 'must be a comma-separated list of label names, e.g. service,container',
    })
    .default('service,container,target,instance_name'),
  /** Extra or changed alert-name → runbook mappings, e.g. `PoolSaturated=P0-2,ApiDown=P0-1`. */
  INTAKE_ALERT_RUNBOOKS: z
    .string()
    .regex(/^[A-Za-z_:][A-Za-z0-9_:]*=P[01]-[1-4](,[A-Za-z_:][A-Za-z0-9_:]*=P[01]-[1-4])*$/, {
      message: 'must be AlertName=RunbookId pairs separated by commas, e.g. PoolSaturated=P0-2',
    })
    .optional(),
  /** `reject` (default): an unknown alert name rejects the whole request; `ignore`: it is skipped. */
  INTAKE_UNKNOWN_ALERTS: z
    .enum(['reject', 'ignore'], { message: 'must be reject or ignore' })
    .default('reject'),
  /**
   * Redis for folding alert storms (client/intake/fold.ts): Alertmanager's alerts are recorded there
   * and delivered as one counted signal per incident per window. Unset: each alert goes to Temporal.
   */
  INTAKE_FOLD_REDIS_URL: url(['redis', 'rediss']).optional(),
  INTAKE_FOLD_WINDOW_MS: z.coerce.number().int().min(50).max(60_000).default(1000),
  /** Key prefix in Redis, when several deployments share one Redis. */
  INTAKE_FOLD_PREFIX: z.string().min(1).max(200).default('accubooks:intake:fold'),
  /**
   * How long the alert of a closed incident (same fingerprint and startsAt) may go on firing before
   * a new incident starts as its recurrence (client/intake/episodes.ts). Unset: twice the rule's
   * `for:` (the alert's `for` annotation), 10 min for an alert without one.
   */
  INTAKE_RECURRENCE_GRACE_MS: z.coerce.number().int().min(0).max(86_400_000).optional(),
  /**
   * Policy overrides for the incidents alerts start, as JSON by runbook, e.g.
   * `{"P0-2":{"resolveWindowMs":10000}}` (the demo's shorter windows). Gates may only be tightened.
   */
  INTAKE_RUNBOOK_POLICIES: z.string().max(16_384).optional(),
});

export interface IntakeConfig {
  temporal: TemporalConfig;
  intake: {
    host: string;
    port: number;
    bearerToken?: string;
    hmacSecret?: string;
    basicAuth?: { username: string; password: string };
    bodyLimitBytes: number;
    targetLabels: string[];
    /** Overrides of the default alert-name → runbook mapping (validated against the catalog). */
    alertRunbooks: Record<string, string>;
    unknownAlerts: 'reject' | 'ignore';
    /** Storm folding: off when `redisUrl` is unset. */
    fold: { redisUrl?: string; windowMs: number; prefix: string };
    /** A fixed recurrence grace (ms) for every alert; unset: twice the alert's `for` annotation. */
    recurrenceGraceMs?: number;
    /** Policy overrides for alert-started incidents, by runbook ID. */
    runbookPolicies: Record<string, Record<string, unknown>>;
  };
}

/** INTAKE_RUNBOOK_POLICIES: a JSON object of runbook ID → object of policy fields. */
function parseRunbookPolicies(text: string | undefined, problems: string[]) {
  if (!text) return {};
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    problems.push(`INTAKE_RUNBOOK_POLICIES is not JSON: ${(err as Error).message}`);
    return {};
  }
  const isObject = (o: unknown): o is Record<string, unknown> =>
    typeof o === 'object' && o !== null && !Array.isArray(o);
  if (!isObject(v)) {
    problems.push('INTAKE_RUNBOOK_POLICIES must be a JSON object, e.g. {"P0-2":{"resolveWindowMs":10000}}');
    return {};
  }
  for (const [id, p] of Object.entries(v)) {
    if (!/^P0-[1-4]$|^P1-[1-3]$/.test(id))
      problems.push(`INTAKE_RUNBOOK_POLICIES: ${id} is not a runbook ID`);
    else if (!isObject(p))
      problems.push(`INTAKE_RUNBOOK_POLICIES: ${id} must map to an object of policy fields`);
  }
  return v as Record<string, Record<string, unknown>>;
}

/** Config for the alert intake: Temporal plus its own settings; at least one way to authenticate. */
export function loadIntakeConfig(env: RawEnv = process.env): IntakeConfig {
  const schema = envSchema
    .pick(
      Object.fromEntries(temporalKeys.map((k) => [k, true])) as Record<(typeof temporalKeys)[number], true>,
    )
    .extend(intakeSchema.shape);
  const e = parse(schema, env);
  const valid = /^P0-[1-4]$|^P1-[1-3]$/;
  const alertRunbooks = Object.fromEntries(
    (e.INTAKE_ALERT_RUNBOOKS ?? '')
      .split(',')
      .filter(Boolean)
      .map((pair) => pair.split('=') as [string, string]),
  );
  const problems = Object.entries(alertRunbooks)
    .filter(([, id]) => !valid.test(id))
    .map(([name, id]) => `INTAKE_ALERT_RUNBOOKS maps ${name} to ${id}, which is not a runbook ID`);
  if (Boolean(e.INTAKE_BASIC_AUTH_USERNAME) !== Boolean(e.INTAKE_BASIC_AUTH_PASSWORD)) {
    problems.push(
      `${e.INTAKE_BASIC_AUTH_USERNAME ? 'INTAKE_BASIC_AUTH_PASSWORD' : 'INTAKE_BASIC_AUTH_USERNAME'} is missing (basic auth needs both)`,
    );
  }
  if (!e.INTAKE_BEARER_TOKEN && !e.INTAKE_HMAC_SECRET && !e.INTAKE_BASIC_AUTH_PASSWORD) {
    problems.push(
      'INTAKE_BEARER_TOKEN or INTAKE_HMAC_SECRET is missing, and no INTAKE_BASIC_AUTH_USERNAME/PASSWORD (the intake never runs open)',
    );
  }
  const runbookPolicies = parseRunbookPolicies(e.INTAKE_RUNBOOK_POLICIES, problems);
  if (problems.length) throw new ConfigError(problems);
  return {
    temporal: temporalFrom(e),
    intake: {
      host: e.INTAKE_HOST,
      port: e.INTAKE_PORT,
      bearerToken: e.INTAKE_BEARER_TOKEN,
      hmacSecret: e.INTAKE_HMAC_SECRET,
      basicAuth:
        e.INTAKE_BASIC_AUTH_USERNAME && e.INTAKE_BASIC_AUTH_PASSWORD
          ? { username: e.INTAKE_BASIC_AUTH_USERNAME, password: e.INTAKE_BASIC_AUTH_PASSWORD }
          : undefined,
      bodyLimitBytes: e.INTAKE_BODY_LIMIT_BYTES,
      targetLabels: e.INTAKE_TARGET_LABELS.split(','),
      alertRunbooks,
      unknownAlerts: e.INTAKE_UNKNOWN_ALERTS,
      fold: {
        redisUrl: e.INTAKE_FOLD_REDIS_URL,
        windowMs: e.INTAKE_FOLD_WINDOW_MS,
        prefix: e.INTAKE_FOLD_PREFIX,
      },
      recurrenceGraceMs: e.INTAKE_RECURRENCE_GRACE_MS,
      runbookPolicies,
    },
  };
}

/** The intake config as it may be logged: secrets reduced to set/unset. */
export function describeIntakeConfig(c: IntakeConfig): Record<string, unknown> {
  return {
    temporal: describeTemporal(c.temporal),
    intake: {
      ...c.intake,
      bearerToken: set(c.intake.bearerToken),
      hmacSecret: set(c.intake.hmacSecret),
      basicAuth: c.intake.basicAuth ? { username: c.intake.basicAuth.username, password: 'set' } : 'unset',
      fold: { ...c.intake.fold, redisUrl: c.intake.fold.redisUrl ? maskUrl(c.intake.fold.redisUrl) : 'off' },
    },
  };
}

// --- Codec server (client/codec-server.ts) -----------------------------------------------------

const codecServerSchema = z.object({
  CODEC_SERVER_HOST: z.string().min(1).default('127.0.0.1'),
  CODEC_SERVER_PORT: port.default(8888),
  /**
   * The one secret: the CLI sends `Authorization: Bearer <token>`; a person types it once into the
   * server's sign-in form (GET /) and gets a session cookie for the Web UI. The server never runs open.
   */
  CODEC_SERVER_TOKEN: z.string().min(16, { message: 'must be at least 16 characters' }),
  /** Browser origins allowed by CORS (the Temporal UI's), comma-separated. */
  CODEC_SERVER_CORS_ORIGINS: z.string().default('http://localhost:8233'),
  /** How long a browser sign-in lasts. */
  CODEC_SERVER_SESSION_HOURS: z.coerce
    .number()
    .positive()
    .max(24 * 30)
    .default(12),
  /** Mark the session cookie `Secure` (set it when the server is reached over https). */
  CODEC_SERVER_COOKIE_SECURE: bool.default(false),
});

export interface CodecServerConfig {
  host: string;
  port: number;
  token: string;
  corsOrigins: string[];
  codecKeys: CodecKey[];
  sessionHours: number;
  cookieSecure: boolean;
}

/** Config for the codec server: the same keys as every other process, plus its own listen and auth. */
export function loadCodecServerConfig(env: RawEnv = process.env): CodecServerConfig {
  const e = parse(codecServerSchema, env);
  const { codecKeys } = loadTemporalConfig(env);
  if (!codecKeys?.length)
    throw new ConfigError(['PAYLOAD_CODEC_KEYS is missing (the codec server has nothing to do)']);
  return {
    host: e.CODEC_SERVER_HOST,
    port: e.CODEC_SERVER_PORT,
    token: e.CODEC_SERVER_TOKEN,
    corsOrigins: e.CODEC_SERVER_CORS_ORIGINS.split(',')
      .map((o) => o.trim())
      .filter(Boolean),
    codecKeys,
    sessionHours: e.CODEC_SERVER_SESSION_HOURS,
    cookieSecure: e.CODEC_SERVER_COOKIE_SECURE,
  };
}
