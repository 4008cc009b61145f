/** Evidence files against the real filesystem and real PostgreSQL (pg_dump as the runbook role). */
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createEvidenceActivities, libpqEnv } from '../../activities/evidence';
import type { RefundRecord } from '../../activities/stripe';
import { runActivity } from '../../rig/activity';
import { need } from '../../rig/env';

const refund: RefundRecord = {
  requested: 'ch_evidence1',
  refundId: 're_evidence1',
  charge: 'ch_evidence1',
  paymentIntent: null,
  amount: 1234,
  currency: 'usd',
  status: 'succeeded',
  createdAt: '2026-02-01T10:00:00.000Z',
  idempotencyKey: 'P0-3-x/refund/ch_evidence1',
  alreadyRefunded: false,
};

const make = () =>
  createEvidenceActivities({
    evidenceDir: mkdtempSync(path.join(tmpdir(), 'abk-evidence-act-')),
    postgresUrl: need('RUNBOOK_DATABASE_URL'),
    pgBinDir: need('PG_BIN_DIR'),
  });

test('a refund document is written once: a retry finds it and does not duplicate or overwrite it', async () => {
  const ev = make();
  const input = {
    incidentId: 'P0-3-x',
    subdir: 'phase4_billing/refunds',
    refund,
    operator: 'test',
    reportedBy: 'support',
    documentedAt: '2026-02-01T10:00:01.000Z',
  };
  const first = await runActivity(ev.writeRefundEvidence, input);
  const again = await runActivity(ev.writeRefundEvidence, {
    ...input,
    documentedAt: '2026-02-01T10:05:00.000Z',
  });
  expect(first.alreadyWritten).toBe(false);
  expect(again).toEqual({ path: first.path, alreadyWritten: true, mode: '0600', dirMode: '0700' });
  expect(readdirSync(path.dirname(first.path))).toEqual(['ch_evidence1.json']);
  await expect(
    runActivity(ev.writeRefundEvidence, { ...input, refund: { ...refund, refundId: 're_other' } }),
  ).rejects.toThrow(/already documents refund re_evidence1/);
});

test('pg_dump writes a restorable, checksummed dump; a retry reports the same file; the password is only in the environment', async () => {
  const ev = make();
  const input = {
    incidentId: 'P0-4-x',
    subdir: 'phase4_integrity',
    timestamp: '2026-02-01T10:00:00.000Z',
    format: 'custom' as const,
  };
  const d = await runActivity(ev.dumpDatabase, input);
  expect(path.basename(d.path)).toBe('backup_20260201T100000Z.dump');
  expect(d.bytes).toBeGreaterThan(1000);
  expect(d.sha256).toMatch(/^[0-9a-f]{64}$/);
  const list = spawnSync(path.join(need('PG_BIN_DIR'), 'pg_restore'), ['--list', d.path], {
    encoding: 'utf8',
  });
  expect(list.status).toBe(0);
  const again = await runActivity(ev.dumpDatabase, input);
  expect(again).toMatchObject({ path: d.path, sha256: d.sha256, bytes: d.bytes, alreadyDone: true });
  const password = decodeURIComponent(new URL(need('RUNBOOK_DATABASE_URL')).password);
  expect(libpqEnv(need('RUNBOOK_DATABASE_URL')).PGPASSWORD).toBe(password);
  expect(JSON.stringify(d)).not.toContain(password);
});

test('evidence is for the owner only: refund documents and the dump 0600, in an incident directory 0700, modes reported', async () => {
  // The usual umask (022) would leave new files world-readable and directories world-listable.
  const umask = process.umask(0o022);
  try {
    const ev = make();
    const modeOf = (p: string) => `0${(statSync(p).mode & 0o777).toString(8)}`;

    const doc = await runActivity(ev.writeRefundEvidence, {
      incidentId: 'P0-3-modes',
      subdir: 'phase4_billing/refunds',
      refund,
      operator: 'test',
      reportedBy: 'support',
      documentedAt: '2026-02-01T10:00:01.000Z',
    });
    expect(doc).toMatchObject({ mode: '0600', dirMode: '0700' });
    expect(modeOf(doc.path)).toBe('0600');
    expect(modeOf(path.dirname(doc.path))).toBe('0700');

    const input = {
      incidentId: 'P0-4-modes',
      subdir: 'phase4_integrity',
      timestamp: '2026-02-01T11:00:00.000Z',
      format: 'plain' as const,
    };
    const dump = await runActivity(ev.dumpDatabase, input);
    expect(dump).toMatchObject({ mode: '0600', dirMode: '0700' });
    expect(modeOf(dump.path)).toBe('0600');
    expect(modeOf(`${dump.path}.sha256`)).toBe('0600');
    expect(modeOf(path.dirname(dump.path))).toBe('0700');

    // A dump written before this rule (world-readable, in an open directory) is tightened on retry.
    chmodSync(dump.path, 0o644);
    chmodSync(path.dirname(dump.path), 0o755);
    const again = await runActivity(ev.dumpDatabase, input);
    expect(again).toMatchObject({ alreadyDone: true, mode: '0600', dirMode: '0700' });
    expect(modeOf(dump.path)).toBe('0600');
    expect(modeOf(path.dirname(dump.path))).toBe('0700');
  } finally {
    process.umask(umask);
  }
});
