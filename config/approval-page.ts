/**
 * Settings of the approval links (worker) and of the approval page service (client/approval-page).
 *
 *   APPROVAL_PAGE_URL   the page's public origin (and path prefix), e.g. https://approve.accubooks.example;
 *                       the worker puts it in links, the page checks POSTs come from it (CSRF)
 *   APPROVAL_LINK_KEY   signs the view part of links (at least 32 characters); the worker and the
 *                       page hold it. It cannot make or check a deciding code: that key
 *                       (APPROVAL_CODE_KEY) stays on the worker.
 *   APPROVAL_PAGE_HOST / APPROVAL_PAGE_PORT   where the page listens (default 127.0.0.1:9096)
 *   APPROVAL_PAGE_VERDICT_TIMEOUT_MS          how long a POST waits for the workflow's verdict
 */
import { z } from 'zod';
import { linkSchema } from './approval-links';
import { ConfigError, parseEnv, type RawEnv } from './errors';
import { loadTemporalConfig, type TemporalConfig } from './temporal';

const pageSchema = linkSchema.extend({
  APPROVAL_PAGE_HOST: z.string().min(1).default('127.0.0.1'),
  APPROVAL_PAGE_PORT: z.coerce
    .number({ message: 'must be a port number (0-65535)' })
    .int()
    .min(0)
    .max(65535)
    .default(9096),
  APPROVAL_PAGE_VERDICT_TIMEOUT_MS: z.coerce.number().int().min(1000).max(300_000).default(30_000),
});

export interface ApprovalPageConfig {
  temporal: TemporalConfig;
  page: {
    host: string;
    port: number;
    /** The public origin POSTs must come from, and the links' base. */
    publicUrl: string;
    linkKey: Buffer;
    verdictTimeoutMs: number;
  };
}

export function loadApprovalPageConfig(env: RawEnv = process.env): ApprovalPageConfig {
  const problems: string[] = [];
  let temporal: TemporalConfig | undefined;
  let e: z.infer<typeof pageSchema> | undefined;
  try {
    temporal = loadTemporalConfig(env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    problems.push(...err.problems);
  }
  try {
    e = parseEnv(pageSchema, env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    problems.push(...err.problems);
  }
  // Named even when another variable is wrong too: one run shows every problem.
  if (!env.APPROVAL_PAGE_URL) problems.push('APPROVAL_PAGE_URL is missing (the origin POSTs must come from)');
  if (!env.APPROVAL_LINK_KEY)
    problems.push('APPROVAL_LINK_KEY is missing (the page shows nothing without it)');
  if (problems.length || !temporal || !e) throw new ConfigError(problems);
  return {
    temporal,
    page: {
      host: e.APPROVAL_PAGE_HOST,
      port: e.APPROVAL_PAGE_PORT,
      publicUrl: e.APPROVAL_PAGE_URL!,
      linkKey: Buffer.from(e.APPROVAL_LINK_KEY!, 'utf8'),
      verdictTimeoutMs: e.APPROVAL_PAGE_VERDICT_TIMEOUT_MS,
    },
  };
}

/** The page config as it may be logged: the key reduced to set. */
export function describeApprovalPageConfig(c: ApprovalPageConfig): Record<string, unknown> {
  return {
    temporal: {
      address: c.temporal.address,
      namespace: c.temporal.namespace,
      codec: c.temporal.codecKeys ? 'on' : 'off',
    },
    page: { ...c.page, linkKey: 'set' },
  };
}
