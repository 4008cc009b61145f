/**
 * The report's "Charges and refunds" section (P0-3): every charge the incident heard of, where it
 * came from, what became of it (refunded, waiting over a cap, rejected, failed) and the refund, from
 * the incident's state (`checks.charges`, `checks.refunds`, `checks.refundCaps`).
 */
import type { IncidentState } from '../../definitions/types';

const cell = (v: string | undefined): string => (v ?? '').replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');

/** The section's lines, or none when the incident has no charges (every runbook but P0-3). */
export function chargesSection(s: IncidentState | undefined): string[] {
  const list = s?.checks.charges?.list;
  if (!list?.length) return [];
  const refunds = (s?.checks.refunds ?? []) as { reported: string; amount: number; currency: string }[];
  const caps = s?.checks.refundCaps?.summary;
  return [
    '## Charges and refunds',
    '',
    ...(caps ? [`Refund caps (worker configuration): ${cell(caps)}`, ''] : []),
    '| charge | from | by | status | amount | refund | why / note |',
    '|---|---|---|---|---|---|---|',
    ...list.map((e) => {
      const r = refunds.find((x) => x.reported === e.charge);
      const amount = e.amount === undefined ? '' : `${e.amount} ${e.currency ?? ''}`;
      const why = [e.overCap, e.approvedBy ? `approved by ${e.approvedBy}` : '', e.note]
        .filter(Boolean)
        .join('; ');
      return `| ${cell(e.charge)} | ${cell(e.source)} | ${cell(e.addedBy)} | ${cell(e.status)} | ${cell(amount)} | ${cell(
        e.refundId ? `${e.refundId}${r ? ` (${r.amount} ${r.currency})` : ''}` : '',
      )} | ${cell(why)} |`;
    }),
    '',
  ];
}
