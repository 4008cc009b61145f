/**
 * Approval links (issue 20): a link in each approval message opens the approval page
 * (client/approval-page) for one approver and one gate.
 *
 * A link carries two separate things:
 *   - `k`, the DECIDING secret: a long one-time code (30 characters, 31^30 ≈ 2^148.6) issued with the
 *     short code, under the same code ID. The workflow keeps only its keyed MAC (APPROVAL_CODE_KEY,
 *     worker only) and checks it in the same local activity as a typed code, so it is single-use,
 *     expires with the code, is spent on sight like the code, and every attempt is recorded.
 *   - `v`, a VIEW signature: HMAC-SHA256 under APPROVAL_LINK_KEY (held by the worker and the page
 *     service) over workflow ID, gate, approver and round. It lets the page show the incident to the
 *     link's holder only, without asking the workflow and without spending anything (mail scanners
 *     fetch links). It cannot decide: the page service never holds the code key, so it cannot make or
 *     test a deciding secret, and `v` says nothing about `k`.
 * Neither reaches history: the activity returns only the MAC of `k`; `v` is recomputed, not stored.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

/** The smallest link key the worker and the page accept (256 bits). */
export const MIN_LINK_KEY_BYTES = 32;

export interface LinkSettings {
  /** The page's public origin and path prefix, e.g. https://approve.accubooks.example */
  pageUrl: string;
  /** APPROVAL_LINK_KEY: signs the view part of links (not the deciding secret). */
  key: Buffer;
}

/** What a link names in clear: none of it is secret. */
export interface LinkTarget {
  workflowId: string;
  gate: string;
  approver: string;
  round: number;
}

const b64url = (b: Buffer) => b.toString('base64url');

/** The view signature: 128 bits of HMAC-SHA256, enough against forgery, short enough for a URL. */
export function viewSignature(key: Buffer, t: LinkTarget): string {
  return b64url(
    createHmac('sha256', key)
      .update(`accubooks approval link view v1\0${t.workflowId}\0${t.gate}\0${t.approver}\0${t.round}`)
      .digest()
      .subarray(0, 16),
  );
}

export function viewSignatureValid(key: Buffer, t: LinkTarget, sig: string): boolean {
  const want = Buffer.from(viewSignature(key, t), 'base64url');
  const got = Buffer.from(sig, 'base64url');
  return got.length === want.length && timingSafeEqual(got, want);
}

/** The page path of one link (no secret in it). */
export const linkPath = (t: LinkTarget) =>
  `/a/${encodeURIComponent(t.workflowId)}/${encodeURIComponent(t.gate)}/${encodeURIComponent(t.approver)}/${t.round}`;

/** The whole link: page path, view signature and the deciding code (kept in its dashed groups). */
export function approvalLink(s: LinkSettings, t: LinkTarget, linkCode: string): string {
  const base = s.pageUrl.replace(/\/+$/, '');
  const q = new URLSearchParams({ v: viewSignature(s.key, t), k: linkCode });
  return `${base}${linkPath(t)}?${q.toString()}`;
}
