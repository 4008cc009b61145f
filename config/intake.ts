/**
 * The alert intake's config (client/intake): Temporal plus its listen address, how callers
 * authenticate (at least one way), the alert-name mapping, storm folding and policy overrides.
 */
import { z } from 'zod';
import { ConfigError, parseEnv as parse, type RawEnv } from './errors';
import { maskUrl, port, setOrUnset, url } from './fields';
import { describeTemporal, temporalFrom, temporalSchema, type TemporalConfig } from './temporal';

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
  const schema = temporalSchema.extend(intakeSchema.shape);
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
      bearerToken: setOrUnset(c.intake.bearerToken),
      hmacSecret: setOrUnset(c.intake.hmacSecret),
      basicAuth: c.intake.basicAuth ? { username: c.intake.basicAuth.username, password: 'set' } : 'unset',
      fold: { ...c.intake.fold, redisUrl: c.intake.fold.redisUrl ? maskUrl(c.intake.fold.redisUrl) : 'off' },
    },
  };
}
