/**
 * The billing switch (`billingConfig.enabled`): a store interface with PostgreSQL as the default
 * implementation (table `billing_config`, one row per key, read by the app at start), and the
 * app's own view of it (`GET /api/billing/status`, as read at its last start).
 */
import { ApplicationFailure } from '@temporalio/common';
import type { Pool } from 'pg';
import { apiUrlFor } from './health';
import { describeError, FailureType, nonRetryable, retryable } from '../definitions/errors';
import type { AppBillingStatus, BillingSwitch } from '../definitions/observations';

/** Where `billingConfig.enabled` lives. The app reads it at start: a change needs a restart. */
export interface BillingStore {
  read(key: string): Promise<BillingSwitch>;
  /** Sets the switch; returns the state before and after (idempotent: setting the same value is fine). */
  set(key: string, enabled: boolean, by: string): Promise<{ before: BillingSwitch; after: BillingSwitch }>;
}

type Row = { enabled: boolean; updated_at: Date; updated_by: string | null };
const toSwitch = (key: string, r: Row): BillingSwitch => ({
  key,
  enabled: r.enabled,
  updatedAt: r.updated_at.toISOString(),
  updatedBy: r.updated_by,
});

/** The default store: the app's `billing_config` table (the role needs SELECT, UPDATE on it). */
export class PostgresBillingStore implements BillingStore {
  constructor(private readonly pool: Pool) {}

  async read(key: string): Promise<BillingSwitch> {
    const { rows } = await this.pool.query<Row>(
      'SELECT enabled, updated_at, updated_by FROM billing_config WHERE key = $1',
      [key],
    );
    if (!rows[0]) throw nonRetryable(FailureType.InvalidInput, `billing_config has no row with key "${key}"`);
    return toSwitch(key, rows[0]);
  }

  async set(key: string, enabled: boolean, by: string) {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      const before = await client.query<Row>(
        'SELECT enabled, updated_at, updated_by FROM billing_config WHERE key = $1 FOR UPDATE',
        [key],
      );
      if (!before.rows[0]) {
        throw nonRetryable(FailureType.InvalidInput, `billing_config has no row with key "${key}"`);
      }
      const after = await client.query<Row>(
        `UPDATE billing_config SET enabled = $2, updated_at = now(), updated_by = $3 WHERE key = $1
         RETURNING enabled, updated_at, updated_by`,
        [key, enabled, by.slice(0, 200)],
      );
      await client.query('COMMIT');
      return { before: toSwitch(key, before.rows[0]), after: toSwitch(key, after.rows[0]) };
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  }
}

export interface BillingDeps {
  store: BillingStore;
  /** The billing_config row this deployment's app reads (BILLING_KEY). */
  key: string;
  /** Base URL of the API per target container (as for health checks). */
  apiUrls: Record<string, string>;
  fetch?: typeof fetch;
}

const classify = (err: unknown, what: string): Error => {
  const code = (err as { code?: string }).code;
  if (code === '42501') {
    return nonRetryable(
      FailureType.ActionRefused,
      `${what}: permission denied on billing_config (grant SELECT, UPDATE to the runbook role, or set BILLING_DATABASE_URL)`,
    );
  }
  if (err instanceof ApplicationFailure) return err;
  return retryable(FailureType.DependencyUnavailable, `${what}: ${describeError(err)}`);
};

export const createBillingActivities = (deps: BillingDeps) => ({
  /** Runbook step "Freeze billing" / "Resume billing": sets `billingConfig.enabled` in the store. */
  async setBillingEnabled(input: {
    enabled: boolean;
    by: string;
    key?: string;
  }): Promise<{ before: BillingSwitch; after: BillingSwitch }> {
    const key = input.key ?? deps.key;
    try {
      return await deps.store.set(key, input.enabled, input.by);
    } catch (err) {
      throw classify(err, `setting billing ${input.enabled ? 'on' : 'off'} (key ${key})`);
    }
  },

  async readBillingSwitch(input: { key?: string }): Promise<BillingSwitch> {
    const key = input.key ?? deps.key;
    try {
      return await deps.store.read(key);
    } catch (err) {
      throw classify(err, `reading billing (key ${key})`);
    }
  },

  /** What the running app says about billing (it reads the switch at start only). */
  async appBillingStatus(input: { target: string; timeoutMs: number }): Promise<AppBillingStatus> {
    const url = `${apiUrlFor(deps.apiUrls, input.target)}/api/billing/status`;
    let res: Response;
    try {
      res = await (deps.fetch ?? fetch)(url, { signal: AbortSignal.timeout(input.timeoutMs) });
    } catch (err) {
      throw retryable(
        FailureType.DependencyUnavailable,
        `billing status of ${input.target}: ${describeError(err)}`,
      );
    }
    const body = (await res.json().catch(() => ({}))) as Partial<AppBillingStatus>;
    if (!res.ok || typeof body.enabled !== 'boolean') {
      throw retryable(
        FailureType.DependencyUnavailable,
        `billing status of ${input.target}: HTTP ${res.status}`,
      );
    }
    return { enabled: body.enabled, since: body.since ?? null, key: body.key ?? null };
  },
});
