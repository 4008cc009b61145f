/**
 * The app's PostgreSQL side: one real `pg` Pool, the schema (created idempotently at start) and
 * the billing switch, which the app reads at start only.
 */
import { Pool, type PoolClient } from 'pg';
import type { SandboxConfig } from './config';

export interface PoolStats {
  max: number;
  total: number;
  idle: number;
  waiting: number;
  inUse: number;
  /** inUse / max, 0..1 */
  utilization: number;
}

export interface BillingState {
  key: string;
  enabled: boolean;
  since: string;
  updatedBy: string | null;
}

export function createPool(config: SandboxConfig): Pool {
  return new Pool({
    connectionString: config.databaseUrl,
    max: config.poolMax,
    connectionTimeoutMillis: config.poolAcquireTimeoutMs,
    // Leaked and idle connections show under this name in pg_stat_activity.
    application_name: `accubooks-sandbox:${config.instance}`.slice(0, 63),
    idleTimeoutMillis: 30_000,
  });
}

export function poolStats(pool: Pool, max: number): PoolStats {
  const total = pool.totalCount;
  const idle = pool.idleCount;
  const inUse = Math.max(0, total - idle);
  return { max, total, idle, waiting: pool.waitingCount, inUse, utilization: max > 0 ? inUse / max : 0 };
}

/** A stable lock id so concurrent sandboxes on one database do not race on CREATE TABLE. */
const SCHEMA_LOCK_ID = 741_852_963;

const SCHEMA_SQL = `
CREATE TABLE IF NOT EXISTS billing_config (
  key        text PRIMARY KEY,
  enabled    boolean NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now(),
  updated_by text
);
CREATE TABLE IF NOT EXISTS invoices (
  id           bigserial PRIMARY KEY,
  tenant_id    text NOT NULL,
  number       text NOT NULL UNIQUE,
  customer     text NOT NULL,
  amount_cents integer NOT NULL,
  currency     text NOT NULL DEFAULT 'usd',
  status       text NOT NULL,
  issued_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS invoices_tenant_idx ON invoices (tenant_id);
`;

/** Creates the tables, seeds invoices when empty and makes sure the billing row exists. */
export async function initSchema(pool: Pool, billingKey: string): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query('SELECT pg_advisory_xact_lock($1)', [SCHEMA_LOCK_ID]);
    await client.query(SCHEMA_SQL);
    await client.query(
      `INSERT INTO billing_config (key, enabled, updated_by) VALUES ($1, true, 'sandbox-init')
       ON CONFLICT (key) DO NOTHING`,
      [billingKey],
    );
    await seedInvoices(client);
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}

async function seedInvoices(client: PoolClient): Promise<void> {
  const { rows } = await client.query<{ n: string }>('SELECT count(*)::text AS n FROM invoices');
  if (Number(rows[0]?.n ?? '0') > 0) return;
  await client.query(
    `INSERT INTO invoices (tenant_id, number, customer, amount_cents, currency, status, issued_at)
     SELECT 'tenant-' || (1 + i % 5),
            'INV-' || lpad(i::text, 6, '0'),
            'Customer ' || (1 + i % 37),
            1000 + (i * 7919) % 250000,
            CASE WHEN i % 4 = 0 THEN 'eur' ELSE 'usd' END,
            CASE WHEN i % 9 = 0 THEN 'overdue' WHEN i % 3 = 0 THEN 'open' ELSE 'paid' END,
            now() - make_interval(days => i % 365)
     FROM generate_series(1, 500) AS i
     ON CONFLICT (number) DO NOTHING`,
  );
}

export async function readBilling(pool: Pool, billingKey: string): Promise<BillingState> {
  const { rows } = await pool.query<{ enabled: boolean; updated_at: Date; updated_by: string | null }>(
    'SELECT enabled, updated_at, updated_by FROM billing_config WHERE key = $1',
    [billingKey],
  );
  const row = rows[0];
  if (!row) throw new Error(`billing_config has no row with key '${billingKey}'`);
  return {
    key: billingKey,
    enabled: row.enabled,
    since: row.updated_at.toISOString(),
    updatedBy: row.updated_by,
  };
}
