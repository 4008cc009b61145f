/**
 * Evidence files: refund documents for P0-3 and the `pg_dump` of the database for P0-4.
 * Both are written once: a retried activity finds the finished file and reports it instead of
 * writing a second one. Credentials reach pg_dump through its environment, never its arguments.
 *
 * The dump is a full copy of every tenant's data and a refund document names a customer's charge:
 * files are 0600 in an incident directory that is 0700 (owner only, whatever the umask), and the
 * modes found on disk afterwards are returned, so the incident records what was actually written.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { chmod, link, mkdir, open, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Context, log } from '@temporalio/activity';
import { describeError, FailureType, nonRetryable, redact, retryable } from '../definitions/errors';
import type { RefundRecord } from './stripe';

export interface EvidenceDeps {
  evidenceDir: string;
  postgresUrl: string;
  pgBinDir: string;
}

export interface RefundEvidenceInput {
  incidentId: string;
  /** Folder under the evidence directory (default phase4_billing/refunds). */
  subdir: string;
  refund: RefundRecord;
  operator: string;
  reportedBy: string;
  documentedAt: string;
}

export interface DumpInput {
  incidentId: string;
  /** Folder under the evidence directory (default phase4_integrity). */
  subdir: string;
  /** Workflow time of the decision: names the file, so a retry finds its own earlier dump. */
  timestamp: string;
  format: 'custom' | 'plain';
}

/** File and directory permissions as found on disk after writing, e.g. "0600" and "0700". */
export interface EvidenceModes {
  mode: string;
  dirMode: string;
}

export interface RefundEvidenceResult extends EvidenceModes {
  path: string;
  alreadyWritten: boolean;
}

export interface DumpResult extends EvidenceModes {
  path: string;
  bytes: number;
  sha256: string;
  format: 'custom' | 'plain';
  database: string;
  startedAt: string;
  finishedAt: string;
  alreadyDone: boolean;
}

const safeName = (s: string) => s.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 120);
const compactTime = (iso: string) => iso.replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');

function within(root: string, ...parts: string[]): string {
  const base = path.resolve(root);
  const p = path.resolve(base, ...parts);
  if (p !== base && !p.startsWith(base + path.sep)) {
    throw nonRetryable(
      FailureType.InvalidInput,
      `evidence path escapes the evidence directory: ${parts.join('/')}`,
    );
  }
  return p;
}

async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Evidence is for the owner only. */
export const EVIDENCE_FILE_MODE = 0o600;
export const EVIDENCE_DIR_MODE = 0o700;

const octal = (m: number) => `0${(m & 0o777).toString(8)}`;

/** The incident's evidence directory, created (parents too) or tightened to 0700. */
async function privateDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: EVIDENCE_DIR_MODE });
  await chmod(dir, EVIDENCE_DIR_MODE); // mkdir leaves an existing directory (or the umask) alone
}

/** Tightens files to 0600 (also ones written before this rule) and reports the modes on disk. */
async function privateFiles(dir: string, ...files: string[]): Promise<EvidenceModes> {
  for (const f of files) await chmod(f, EVIDENCE_FILE_MODE);
  const [st, dst] = await Promise.all([stat(files[0]), stat(dir)]);
  return { mode: octal(st.mode), dirMode: octal(dst.mode) };
}

async function exists(file: string): Promise<boolean> {
  return stat(file).then(
    () => true,
    () => false,
  );
}

/** libpq environment from a connection URL: the password goes to PGPASSWORD, nowhere else. */
export function libpqEnv(url: string): Record<string, string> {
  const u = new URL(url);
  const env: Record<string, string> = {
    PGHOST: u.hostname,
    PGPORT: u.port || '5432',
    PGDATABASE: decodeURIComponent(u.pathname.replace(/^\//, '')) || 'postgres',
    PGUSER: decodeURIComponent(u.username),
    PGAPPNAME: 'accubooks-runbooks-evidence',
    PGCONNECT_TIMEOUT: '10',
  };
  if (u.password) env.PGPASSWORD = decodeURIComponent(u.password);
  const sslmode = u.searchParams.get('sslmode');
  if (sslmode) env.PGSSLMODE = sslmode;
  return env;
}

const createRefundEvidenceActivities = (deps: EvidenceDeps) => ({
  /** Runbook step "Document in launch/evidence/phase4_billing/refunds/": one file per refund, once. */
  async writeRefundEvidence(input: RefundEvidenceInput): Promise<RefundEvidenceResult> {
    const dir = within(deps.evidenceDir, input.subdir, safeName(input.incidentId));
    const file = path.join(dir, `${safeName(input.refund.requested)}.json`);
    const doc = {
      kind: 'refund',
      incidentId: input.incidentId,
      refundId: input.refund.refundId,
      reported: input.refund.requested,
      charge: input.refund.charge,
      paymentIntent: input.refund.paymentIntent,
      amount: input.refund.amount,
      currency: input.refund.currency,
      status: input.refund.status,
      refundedAt: input.refund.createdAt,
      documentedAt: input.documentedAt,
      operator: input.operator,
      reportedBy: input.reportedBy,
      idempotencyKey: input.refund.idempotencyKey,
      // Stripe answered charge_already_refunded: this refund was made before (by hand, or earlier).
      alreadyRefunded: input.refund.alreadyRefunded,
    };
    await privateDir(dir);
    const tmp = `${file}.${process.pid}.${Date.now()}.tmp`;
    await writeFile(tmp, `${JSON.stringify(doc, null, 2)}\n`, { mode: EVIDENCE_FILE_MODE });
    try {
      // link() fails if the file exists: the whole document appears at once, and only once.
      await link(tmp, file);
      return { path: file, alreadyWritten: false, ...(await privateFiles(dir, file)) };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw retryable(FailureType.DependencyUnavailable, `writing ${file}: ${describeError(err)}`);
      }
      const existing = JSON.parse(await readFile(file, 'utf8')) as { refundId?: string };
      if (existing.refundId !== input.refund.refundId) {
        throw nonRetryable(
          FailureType.ActionRefused,
          `${file} already documents refund ${existing.refundId}, not ${input.refund.refundId}; not overwritten`,
        );
      }
      return { path: file, alreadyWritten: true, ...(await privateFiles(dir, file)) };
    } finally {
      await rm(tmp, { force: true });
    }
  },
});

/** The dump and its checksum a finished earlier attempt left (its answer was lost), if any. */
async function earlierDump(
  dir: string,
  file: string,
  sumFile: string,
  format: DumpInput['format'],
  database: string,
): Promise<DumpResult | undefined> {
  if (!(await exists(file)) || !(await exists(sumFile))) return undefined;
  const [sha256] = (await readFile(sumFile, 'utf8')).split(/\s+/);
  const st = await stat(file);
  await privateDir(dir);
  const modes = await privateFiles(dir, file, sumFile);
  return {
    ...modes,
    path: file,
    bytes: st.size,
    sha256,
    format,
    database,
    startedAt: st.birthtime.toISOString(),
    finishedAt: st.mtime.toISOString(),
    alreadyDone: true,
  };
}

/** Runs pg_dump into `partial`, heartbeating its size; killed when the activity is cancelled. */
async function runPgDump(deps: EvidenceDeps, partial: string, format: DumpInput['format']): Promise<void> {
  const ctx = Context.current();
  const child = spawn(
    path.join(deps.pgBinDir, 'pg_dump'),
    [`--format=${format}`, '--no-password', `--file=${partial}`],
    {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LANG: 'C.UTF-8', ...libpqEnv(deps.postgresUrl) },
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => {
    if (stderr.length < 4000) stderr += c.toString();
  });
  const beat = setInterval(() => {
    void stat(partial).then(
      (st) => ctx.heartbeat({ bytes: st.size }),
      () => ctx.heartbeat({ bytes: 0 }),
    );
  }, 2_000);
  const onCancel = () => child.kill('SIGTERM');
  ctx.cancelled.catch(onCancel);
  let code: number | null;
  try {
    code = await new Promise<number | null>((resolve, reject) => {
      child.once('error', reject);
      child.once('close', (c) => resolve(c));
    });
  } catch (err) {
    throw nonRetryable(
      FailureType.InvalidInput,
      `cannot run pg_dump from ${deps.pgBinDir}: ${describeError(err)}`,
    );
  } finally {
    clearInterval(beat);
  }
  if (code !== 0) {
    await rm(partial, { force: true });
    throw retryable(
      FailureType.DependencyUnavailable,
      `pg_dump exited ${code}: ${redact(stderr.trim().split('\n').slice(-3).join(' | ')).slice(0, 500)}`,
    );
  }
}

const createDumpActivities = (deps: EvidenceDeps) => ({
  /** Runbook step "Preserve evidence: pg_dump": a timestamped dump, its size and SHA-256. */
  async dumpDatabase(input: DumpInput): Promise<DumpResult> {
    const dir = within(deps.evidenceDir, input.subdir, safeName(input.incidentId));
    const ext = input.format === 'custom' ? 'dump' : 'sql';
    const file = path.join(dir, `backup_${compactTime(input.timestamp)}.${ext}`);
    const sumFile = `${file}.sha256`;
    const database = libpqEnv(deps.postgresUrl).PGDATABASE;
    const earlier = await earlierDump(dir, file, sumFile, input.format, database);
    if (earlier) return earlier;
    await privateDir(dir);
    const partial = `${file}.partial`;
    // Created 0600 before pg_dump opens it (pg_dump keeps an existing file's mode when it truncates):
    // the tenant data is never readable by others, not even while it is being written.
    await (await open(partial, 'w', EVIDENCE_FILE_MODE)).close();
    await chmod(partial, EVIDENCE_FILE_MODE);
    const startedAt = new Date().toISOString();
    await runPgDump(deps, partial, input.format);
    const sha256 = await sha256File(partial);
    const { size } = await stat(partial);
    await rename(partial, file);
    await writeFile(sumFile, `${sha256}  ${path.basename(file)}\n`, { mode: EVIDENCE_FILE_MODE });
    const modes = await privateFiles(dir, file, sumFile);
    log.info('database dump preserved', { path: file, bytes: size, mode: modes.mode });
    return {
      ...modes,
      path: file,
      bytes: size,
      sha256,
      format: input.format,
      database,
      startedAt,
      finishedAt: new Date().toISOString(),
      alreadyDone: false,
    };
  },
});

/** The refund documents and the database dump: the evidence a runbook preserves. */
export const createEvidenceActivities = (deps: EvidenceDeps) => ({
  ...createRefundEvidenceActivities(deps),
  ...createDumpActivities(deps),
});
