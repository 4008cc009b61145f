/**
 * An approval link as it came in a request: well formed, signed for its approver, gate and round,
 * and what the workflow's state says about it. Each failure is a PageError the page shows.
 */
import type { FastifyRequest } from 'fastify';
import { normalizeCode, CODE_ALPHABET, CODE_LENGTH } from '../../activities/approval-codes';
import { linkPath, viewSignatureValid, type LinkTarget } from '../../activities/approval-links';
import type { ApprovalCodeRecord, ApprovalGateRecord } from '../../definitions/approval';
import type { IncidentState } from '../../definitions/types';
import { linkIdOf } from './form-tokens';
import type { ApprovalGateway } from './gateway';

interface LinkParams {
  wf: string;
  gate: string;
  approver: string;
  round: string;
}

export interface Link {
  target: LinkTarget;
  code: string;
  linkId: string;
}

export class PageError extends Error {
  constructor(
    readonly status: number,
    readonly outcome: string,
    readonly title: string,
    message: string,
  ) {
    super(message);
  }
}

const LINK_CODE = new RegExp(`^[${CODE_ALPHABET}]{${CODE_LENGTH.long}}$`);

/** The link as it came: well formed and signed for this approver, gate and round, or a PageError. */
export function readLink(req: FastifyRequest, key: Buffer): Link {
  const p = req.params as LinkParams;
  const q = req.query as Record<string, unknown>;
  const round = Number(p.round);
  const v = typeof q.v === 'string' ? q.v : '';
  const k = typeof q.k === 'string' ? q.k : '';
  if (!Number.isInteger(round) || round < 1 || !v || !LINK_CODE.test(normalizeCode(k)))
    throw new PageError(
      400,
      'malformed-link',
      'This link is incomplete',
      'The link is cut or changed. Open it again from the message, whole.',
    );
  const target: LinkTarget = { workflowId: p.wf, gate: p.gate, approver: p.approver, round };
  if (!viewSignatureValid(key, target, v))
    throw new PageError(
      403,
      'invalid-link',
      'This link is not valid',
      'This link was not issued for this approver and request. Use the link from your own message.',
    );
  return { target, code: k, linkId: linkIdOf(linkPath(target), normalizeCode(k)) };
}

export interface Found {
  state: IncidentState;
  gate: ApprovalGateRecord;
  code: ApprovalCodeRecord;
}

export async function find(gateway: ApprovalGateway, t: LinkTarget): Promise<Found> {
  const state = await gateway.state(t.workflowId);
  const gate = state?.approvals?.find((g) => g.gate === t.gate);
  const code = gate?.codes.find((c) => c.approver === t.approver && c.round === t.round);
  if (!state || !gate || !code)
    throw new PageError(
      404,
      'not-found',
      'No such approval request',
      'The incident or its approval request is not there any more (closed, or never existed).',
    );
  return { state, gate, code };
}

/** Why the link can no longer decide, as the workflow's state says; undefined while it can. */
export function closedBecause(f: Found, nowMs: number): string | undefined {
  const { gate, code } = f;
  if (code.status === 'used') return 'This link was already used: your answer was recorded.';
  if (code.status === 'spent')
    return 'This link was spent by an earlier submission that was refused; a fresh link was sent to you.';
  if (code.status === 'revoked') return 'This link was replaced by a newer one: use the latest message.';
  if (code.status === 'expired' || Date.parse(code.expiresAt) < nowMs)
    return `This link expired at ${code.expiresAt}. A fresh one comes with the next reminder.`;
  if (gate.status === 'approved')
    return `Already approved at ${gate.decidedAt ?? '?'}: nothing left to decide.`;
  if (gate.status !== 'pending') return 'No approval is requested right now.';
  return undefined;
}
