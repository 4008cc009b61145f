/**
 * The billing switch as the app sees it: read once at start (a restart is needed for a change to
 * take effect, which the billing-freeze runbook relies on); charges are refused while frozen.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { BillingState } from './db';
import { HttpError, readJson, send } from './http';
import type { Logger } from './log';

const NOT_READ = 'billing configuration not read yet (database unavailable)';

export function billingStatus(billing: BillingState | null, startedAt: number, res: ServerResponse): void {
  if (!billing) throw new HttpError(503, NOT_READ);
  send(res, 200, {
    enabled: billing.enabled,
    since: billing.since,
    key: billing.key,
    updatedBy: billing.updatedBy,
    readAt: new Date(startedAt).toISOString(),
    note: 'read at start; a restart is needed for a change to take effect',
  });
}

/** POST /api/billing/charge; `billing` is read after the body, as it may be set meanwhile. */
export async function charge(
  deps: { billing(): BillingState | null; log: Logger },
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const body = await readJson(req, true);
  const billing = deps.billing();
  if (!billing) throw new HttpError(503, NOT_READ);
  if (!billing.enabled) {
    return send(res, 423, { error: 'billing is frozen', since: billing.since });
  }
  const input = typeof body === 'object' && body !== null ? (body as Record<string, unknown>) : {};
  const amount = typeof input.amount === 'number' && input.amount > 0 ? Math.round(input.amount) : 1000;
  const currency = typeof input.currency === 'string' ? input.currency : 'usd';
  const created = { id: `ch_sbx_${randomUUID().replace(/-/g, '')}`, status: 'succeeded', amount, currency };
  deps.log.info('charge created', { chargeId: created.id, amount, currency });
  send(res, 200, created);
}
