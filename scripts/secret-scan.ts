#!/usr/bin/env node
/**
 * The leak scan, run by scripts/test.sh after the suites: every workflow history on the dev server,
 * read raw (as stored, WITHOUT the payload codec), and every log the suites produced, searched for
 * each configured secret and for approval codes in clear. Any hit fails (exit 1); a hit is reported
 * by secret name and place, never by value.
 *
 *   node dist/scripts/secret-scan.js [--logs <dir|file>]...     (defaults: $STACK_DIR/*.log, test-artifacts/)
 *
 * Secrets come from the environment the suites ran with (the stack's env file): the Stripe key, the
 * passwords in DATABASE_URL / RUNBOOK_DATABASE_URL / PG_ADMIN_URL / BILLING_DATABASE_URL / REDIS_URL /
 * SMTP_URL, the intake token and HMAC secret, the PagerDuty routing key, the Temporal API key, the
 * codec server token and the payload codec keys.
 *
 * Approval codes are random per request, so they are found by their shape (groups of five from the
 * code alphabet, activities/approval-codes.ts). In histories, the one place a code may be is the
 * approver's own submission: the input of an `approval` or `abandon` signal (a submission that carries
 * a live code spends it, accepted or not, so a code seen there is dead). Anywhere else in a history
 * (activity results, state, details, failures) and anywhere in a log, a code-shaped string is a hit.
 *
 * Nothing that lets a reader test a guess offline either: a history with a field named like a hash or
 * a salt (`hash`, `salt`, `codeHash`) is a hit, and so is any 64-hex string in it that is the plain
 * SHA-256 of a code submitted in that history (the workflow may keep only MACs under the worker's key).
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { tlsOptions } from '../client/connection';
import { loadTemporalConfig } from '../config/temporal';

/** The code alphabet of activities/approvals.ts (no 0/O, 1/I/L). */
export const APPROVAL_CODE = /(?<![A-Z0-9])[A-HJKMNP-Z2-9]{5}-[A-HJKMNP-Z2-9]{5}(?![A-Z0-9])/g;
/** Where an approver's submitted code belongs. */
const SUBMISSION_NAMES = new Set(['approval', 'abandon']);
/** Shorter values would match by chance (and are not secrets worth the name). */
const MIN_SECRET_LENGTH = 6;

export interface Secret {
  name: string;
  value: string;
}

export interface Hit {
  where: string;
  what: string;
}

const password = (raw: string | undefined): string | undefined => {
  if (!raw) return undefined;
  try {
    return decodeURIComponent(new URL(raw).password) || undefined;
  } catch {
    return undefined;
  }
};

/** Every secret the environment configures, by name. */
export function secretsFromEnv(env: Record<string, string | undefined> = process.env): Secret[] {
  const found: [string, string | undefined][] = [
    ['STRIPE_API_KEY', env.STRIPE_API_KEY],
    ...[
      'DATABASE_URL',
      'RUNBOOK_DATABASE_URL',
      'PG_ADMIN_URL',
      'BILLING_DATABASE_URL',
      'REDIS_URL',
      'SMTP_URL',
    ].map((n): [string, string | undefined] => [`${n} password`, password(env[n])]),
    ['INTAKE_BEARER_TOKEN', env.INTAKE_BEARER_TOKEN],
    ['INTAKE_HMAC_SECRET', env.INTAKE_HMAC_SECRET],
    // The stack's Alertmanager sends it to the intake (scripts/stack.sh): never in its log or a history.
    ['STACK_INTAKE_TOKEN', env.STACK_INTAKE_TOKEN],
    ['PAGERDUTY_ROUTING_KEY', env.PAGERDUTY_ROUTING_KEY],
    ['TEMPORAL_API_KEY', env.TEMPORAL_API_KEY],
    ['APPROVAL_CODE_KEY', env.APPROVAL_CODE_KEY],
    ['APPROVAL_LINK_KEY', env.APPROVAL_LINK_KEY],
    ['CODEC_SERVER_TOKEN', env.CODEC_SERVER_TOKEN],
    ...(env.PAYLOAD_CODEC_KEYS ?? '')
      .split(',')
      .filter(Boolean)
      .map((e): [string, string | undefined] => [`PAYLOAD_CODEC_KEYS ${e.split(':')[0]}`, e.split(':')[1]]),
  ];
  const seen = new Set<string>();
  return found
    .filter((f): f is [string, string] => typeof f[1] === 'string' && f[1].length >= MIN_SECRET_LENGTH)
    .filter(([, v]) => (seen.has(v) ? false : (seen.add(v), true)))
    .map(([name, value]) => ({ name, value }));
}

/** Searches one text for the secrets (and, unless allowed, approval codes). */
export function scanText(text: string, where: string, secrets: Secret[], codesAllowed = false): Hit[] {
  const hits: Hit[] = [];
  for (const s of secrets) {
    let at = text.indexOf(s.value);
    while (at >= 0) {
      hits.push({ where: `${where} @${at}`, what: s.name });
      at = text.indexOf(s.value, at + 1);
    }
  }
  if (!codesAllowed) {
    for (const m of text.matchAll(APPROVAL_CODE))
      hits.push({ where: `${where} @${m.index}`, what: 'approval code' });
  }
  return hits;
}

/** All text in a proto object as stored: strings, and bytes (payload data, metadata) as latin1. */
function textOf(value: unknown): string {
  const parts: string[] = [];
  const walk = (v: unknown): void => {
    if (typeof v === 'string') parts.push(v);
    else if (v instanceof Uint8Array) parts.push(Buffer.from(v).toString('latin1'));
    else if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === 'object') Object.values(v).forEach(walk);
  };
  walk(value);
  return parts.join('\n');
}

type HistoryEvent = Record<string, unknown> & { eventId?: unknown };

/** Is this event the approver's own submission (a signal named for approvals)? */
function isSubmission(e: HistoryEvent): boolean {
  const sig = e.workflowExecutionSignaledEventAttributes as { signalName?: string } | null | undefined;
  return !!(sig?.signalName && SUBMISSION_NAMES.has(sig.signalName));
}

const HASH_FIELD = /"(hash|salt|codeHash|codeSalt)"\s*:/g;
const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

/** Secrets and codes in clear, hash-or-salt fields, and plain SHA-256s of the codes submitted. */
export function scanHistory(events: HistoryEvent[], where: string, secrets: Secret[]): Hit[] {
  const texts = events.map((e) => ({ e, text: textOf(e) }));
  const hits = texts.flatMap(({ e, text }) =>
    scanText(text, `${where} event ${String(e.eventId)}`, secrets, isSubmission(e)),
  );
  const submitted = new Set(
    texts
      .filter(({ e }) => isSubmission(e))
      .flatMap(({ text }) => [...text.matchAll(APPROVAL_CODE)].map((m) => m[0])),
  );
  const guesses = new Set([...submitted].flatMap((c) => [sha256(c), sha256(c.replace(/-/g, ''))]));
  for (const { e, text } of texts) {
    const at = `${where} event ${String(e.eventId)}`;
    for (const m of text.matchAll(HASH_FIELD))
      hits.push({ where: `${at} @${m.index}`, what: `a "${m[1]}" field` });
    for (const m of text.matchAll(/[0-9a-f]{64}/g)) {
      if (guesses.has(m[0]))
        hits.push({ where: `${at} @${m.index}`, what: 'an unkeyed hash of a submitted code' });
    }
  }
  return hits;
}

function logFiles(paths: string[]): string[] {
  const out: string[] = [];
  const visit = (p: string) => {
    if (!existsSync(p)) return;
    const st = statSync(p);
    if (st.isDirectory()) readdirSync(p).forEach((n) => visit(join(p, n)));
    else if (st.isFile() && !/\.(png|jpe?g|webm|zip|gz)$/i.test(p)) out.push(p);
  };
  paths.forEach(visit);
  return out;
}

async function mapLimit<T, R>(items: T[], limit: number, fn: (t: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array<R>(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i]);
      }
    }),
  );
  return out;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const logs: string[] = [];
  for (let i = 0; i < args.length; i++) if (args[i] === '--logs' && args[i + 1]) logs.push(args[++i]);
  if (!logs.length) {
    if (process.env.STACK_DIR && existsSync(process.env.STACK_DIR)) {
      logs.push(
        ...readdirSync(process.env.STACK_DIR)
          .filter((n) => n.endsWith('.log'))
          .map((n) => join(process.env.STACK_DIR!, n)),
      );
    }
    logs.push(resolve('test-artifacts'));
  }
  const secrets = secretsFromEnv();
  const hits: Hit[] = [];

  // Logs.
  const files = logFiles(logs);
  let logBytes = 0;
  for (const f of files) {
    const text = readFileSync(f, 'latin1');
    logBytes += text.length;
    hits.push(...scanText(text, f, secrets));
  }

  // Histories, raw: a client WITHOUT the payload codec, as an auditor with server access would read them.
  const cfg = loadTemporalConfig();
  const connection = await Connection.connect({
    address: cfg.address,
    tls: tlsOptions(cfg),
    apiKey: cfg.apiKey,
  });
  const client = new Client({ connection, namespace: cfg.namespace });
  const ids: { workflowId: string; runId: string }[] = [];
  try {
    // The raw list RPC: client.workflow.list() decodes each memo (incidents carry one), which a
    // client without the codec keys cannot do for encrypted ones.
    let nextPageToken: Uint8Array | undefined;
    do {
      const page = await client.workflowService.listWorkflowExecutions({
        namespace: cfg.namespace,
        pageSize: 1000,
        nextPageToken,
      });
      for (const e of page.executions ?? [])
        if (e.execution?.workflowId && e.execution.runId)
          ids.push({ workflowId: e.execution.workflowId, runId: e.execution.runId });
      nextPageToken = page.nextPageToken?.length ? page.nextPageToken : undefined;
    } while (nextPageToken);
    let events = 0;
    const perRun = await mapLimit(ids, 8, async ({ workflowId, runId }) => {
      const history = await client.workflow.getHandle(workflowId, runId).fetchHistory();
      const evs = (history.events ?? []) as unknown as HistoryEvent[];
      events += evs.length;
      return scanHistory(evs, `history ${workflowId}/${runId}`, secrets);
    });
    hits.push(...perRun.flat());
    process.stdout.write(
      `secret-scan: ${secrets.length} secrets (${secrets.map((s) => s.name).join(', ')}) + approval-code shape\n` +
        `secret-scan: ${ids.length} workflow histories (${events} events) on ${cfg.address}/${cfg.namespace}, ` +
        `${files.length} log files (${(logBytes / 1024).toFixed(0)} KiB)\n`,
    );
  } finally {
    await connection.close();
  }
  if (hits.length) {
    process.stdout.write(`secret-scan: FAILED, ${hits.length} hits:\n`);
    for (const h of hits.slice(0, 50)) process.stdout.write(`  ${h.what} in ${h.where}\n`);
    process.exitCode = 1;
  } else {
    process.stdout.write('secret-scan: 0 hits\n');
  }
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(`secret-scan failed: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(2);
  });
}
