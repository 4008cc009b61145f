/**
 * GET /api/work: one tenant's invoice summary from PostgreSQL, the request the load and the
 * self traffic make. The error-rate and slow-queries faults act here.
 */
import type { ServerResponse } from 'node:http';
import type { Pool } from 'pg';
import type { FaultRegistry } from './faults';
import { send, type Ctx } from './http';
import { errorMessage } from './log';

export async function work(
  deps: { faults: FaultRegistry; pool: Pool },
  res: ServerResponse,
  ctx: Ctx,
): Promise<void> {
  const { faults, pool } = deps;
  const errorRate = faults.get('error-rate');
  if (errorRate && Math.random() < errorRate.rate) {
    ctx.error = `upstream ledger service returned an error (injected error-rate ${errorRate.rate})`;
    return send(res, 500, { error: 'internal error', detail: ctx.error });
  }
  const tenant = `tenant-${1 + Math.floor(Math.random() * 5)}`;
  const slow = faults.get('slow-queries');
  try {
    if (slow && Math.random() < (slow.probability ?? 1)) {
      const { rows } = await pool.query<{ invoices: number }>(
        'SELECT pg_sleep($1), count(*)::int AS invoices FROM invoices WHERE tenant_id = $2',
        [slow.seconds, tenant],
      );
      return send(res, 200, { tenant, invoices: rows[0]?.invoices ?? 0, slow: true });
    }
    const { rows } = await pool.query<{ invoices: number; total: string }>(
      `SELECT count(*)::int AS invoices, coalesce(sum(amount_cents), 0)::text AS total
         FROM invoices WHERE tenant_id = $1 AND status <> 'void'`,
      [tenant],
    );
    return send(res, 200, {
      tenant,
      invoices: rows[0]?.invoices ?? 0,
      totalCents: Number(rows[0]?.total ?? 0),
    });
  } catch (err) {
    ctx.error = `database query failed: ${errorMessage(err)}`;
    return send(res, 500, { error: 'internal error', detail: ctx.error });
  }
}
