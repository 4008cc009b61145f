/**
 * The CLI path of adding charges to a running P0-3 (`runbooks charges add`): the `addCharges` signal
 * the Web UI's "Send a Signal" sends too (marked `via: "cli"`, with a request ID), then the
 * workflow's record of that request read back from its state: which charges joined, which it knew
 * already, which are not charge IDs. A signal, not an update, for the reason client/approvals.ts gives.
 */
import { randomUUID } from 'node:crypto';
import type { WorkflowHandle } from '@temporalio/client';
import { addChargesSignal, stateQuery } from '../definitions/messages';
import type { ChargeRequestRecord } from '../definitions/charges';
import type { IncidentState } from '../definitions/types';
import { incidentWorkflowId } from './incidents';
import { TARGET_NAME } from './intake/mapping';
import { CHARGE_ID } from './intake/schema';

/** An incident workflow ID as given, or the P0-3 incident of a target (`accubooks-api`). */
export function billingIncidentId(incidentOrTarget: string): string {
  if (incidentOrTarget.startsWith('incident-')) return incidentOrTarget;
  if (!TARGET_NAME.test(incidentOrTarget))
    throw new Error(
      `"${incidentOrTarget.slice(0, 80)}" is neither an incident workflow ID nor a target name`,
    );
  return incidentWorkflowId('P0-3', incidentOrTarget);
}

/** The first ID that is not a Stripe charge or payment intent ID, with what is wrong, or undefined. */
export function badChargeId(charges: readonly string[]): string | undefined {
  const bad = charges.find((c) => !CHARGE_ID.test(c));
  return bad === undefined
    ? undefined
    : `"${bad.slice(0, 80)}" is not a Stripe charge (ch_…) or payment intent (pi_…) ID`;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Sends the charges and waits for the workflow's record of the request. */
export async function addCharges(
  handle: WorkflowHandle,
  req: { charges: string[]; by: string; reason?: string },
  opts: { timeoutMs?: number } = {},
): Promise<ChargeRequestRecord> {
  const problem = badChargeId(req.charges);
  if (problem) throw new Error(problem);
  const requestId = randomUUID();
  await handle.signal(addChargesSignal, { ...req, requestId, via: 'cli' });
  const deadline = Date.now() + (opts.timeoutMs ?? 60_000);
  for (;;) {
    // Queries need a worker, which may be restarting: keep asking until the deadline.
    const s = await handle.query<IncidentState>(stateQuery).catch(() => undefined);
    const list = s?.checks.chargeRequests?.list ?? [];
    const rec = list.find((r) => r.requestId === requestId);
    if (rec) return rec;
    if (Date.now() > deadline)
      throw new Error(
        `the workflow has not recorded the charges within ${Math.round((opts.timeoutMs ?? 60_000) / 1000)} s`,
      );
    await sleep(200);
  }
}
