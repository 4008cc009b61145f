/**
 * Evidence files: refund documents for P0-3 and the `pg_dump` of the database for P0-4.
 * Both are written once: a retried activity finds the finished file and reports it instead of
 * writing a second one. Credentials reach pg_dump through its environment, never its arguments.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { link, mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Context, log } from '@temporalio/activity';
import { describeError, FailureType, nonRetryable, redact, retryable } from './errors';
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

export interface DumpResult {
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

export const createEvidenceActivities = (deps: EvidenceDeps) => ({
  /** Runbook step "Document in launch/evidence/phase4_billing/refunds/": one file per refund, once. */
  async writeRefundEvidence(input: RefundEvidenceInput): Promise<{ path: string; alreadyWritten: boolean }> {
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
    };
    await mkdir(dir, { recursive: true });
    const tmp = `${file}.${process.pid}.${Date.now()}.tmp`;
    await writeFile(tmp, `${JSON.stringify(doc, null, 2)}\n`, { mode: 0o640 });
    try {
      // link() fails if the file exists: the whole document appears at once, and only once.
      await link(tmp, file);
      return { path: file, alreadyWritten: false };
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
      return { path: file, alreadyWritten: true };
    } finally {
      await rm(tmp, { force: true });
    }
  },

  /** Runbook step "Preserve evidence: pg_dump": a timestamped dump, its size and SHA-256. */
  async dumpDatabase(input: DumpInput): Promise<DumpResult> {
    const dir = within(deps.evidenceDir, input.subdir, safeName(input.incidentId));
    const ext = input.format === 'custom' ? 'dump' : 'sql';
    const file = path.join(dir, `backup_${compactTime(input.timestamp)}.${ext}`);
    const sumFile = `${file}.sha256`;
    const database = libpqEnv(deps.postgresUrl).PGDATABASE;
    if ((await exists(file)) && (await exists(sumFile))) {
      // A retry after the dump finished (the answer was lost): report the same file.
      const [sha256] = (await readFile(sumFile, 'utf8')).split(/\s+/);
      const st = await stat(file);
      return {
        path: file,
        bytes: st.size,
        sha256,
        format: input.format,
        database,
        startedAt: st.birthtime.toISOString(),
        finishedAt: st.mtime.toISOString(),
        alreadyDone: true,
      };
    }
    await mkdir(dir, { recursive: true });
    const partial = `${file}.partial`;
    const startedAt = new Date().toISOString();
    const ctx = Context.current();
    const child = spawn(
      path.join(deps.pgBinDir, 'pg_dump'),
      [`--format=${input.format}`, '--no-password', `--file=${partial}`],
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
    const sha256 = await sha256File(partial);
    const { size } = await stat(partial);
    await rename(partial, file);
    await writeFile(sumFile, `${sha256}  ${path.basename(file)}\n`);
    log.info('database dump preserved', { path: file, bytes: size });
    return {
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
