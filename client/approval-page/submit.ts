/**
 * The POST of the approval form: the approver's submission. Refused before anything reaches the
 * workflow when it comes from another site, with a form token the page did not issue for this link
 * (CSRF, double submits, replays), or half filled in; otherwise sent to the workflow, and answered
 * with the workflow's own verdict.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { FormTokens } from './form-tokens';
import type { ApprovalGateway, Verdict } from './gateway';
import { find, PageError, readLink, type Found, type Link } from './link';
import type { PageMetrics } from './metrics';
import type { PageView } from './view';

export interface SubmitContext {
  gateway: ApprovalGateway;
  linkKey: Buffer;
  /** The page's own origin: a POST must come from it. */
  publicOrigin: string;
  verdictTimeoutMs: number;
  tokens: FormTokens;
  metrics: PageMetrics;
  /** Answers with an HTML page; `outcome` is what the request metrics count. */
  html: (
    req: FastifyRequest,
    reply: FastifyReply,
    status: number,
    outcome: string,
    body: string,
  ) => FastifyReply;
  /** The page for this link, with a fresh form token while the link can still decide. */
  show: (found: Found, link: Link, extra?: Partial<PageView>) => string;
}

function sameOrigin(req: FastifyRequest, publicOrigin: string): boolean {
  const origin = req.headers.origin;
  if (typeof origin === 'string') return origin === publicOrigin;
  // Browsers that send no Origin on a same-origin POST send Sec-Fetch-Site.
  return req.headers['sec-fetch-site'] === 'same-origin';
}

/** The link of a submission from the page itself, with a form token issued for it and not used yet. */
function admittedLink(req: FastifyRequest, c: SubmitContext): Link {
  if (!sameOrigin(req, c.publicOrigin))
    throw new PageError(
      403,
      'cross-origin',
      'Refused: not sent from the approval page',
      'This request came from another site. Nothing was decided. Open the link from your message and answer there.',
    );
  const link = readLink(req, c.linkKey);
  const body = (req.body ?? {}) as Record<string, unknown>;
  const token = typeof body.form === 'string' ? body.form : '';
  const used = c.tokens.consume(token, link.linkId);
  if (used !== 'ok') {
    const why = {
      unknown: 'This form is not one the page issued (or the page restarted).',
      'other-link': 'This form belongs to another link.',
      used: 'This form was already sent: a double submit or a replay is refused.',
      expired: 'This form is too old.',
    }[used];
    throw new PageError(
      used === 'used' ? 409 : 403,
      used === 'used' ? 'replay' : 'bad-form',
      'Refused: nothing was decided',
      `${why} Open the link again to see where things stand.`,
    );
  }
  return link;
}

/** Decides through the workflow; throws a PageError (or Temporal's error) for the page to show. */
export async function submitForm(req: FastifyRequest, reply: FastifyReply, c: SubmitContext) {
  const link = admittedLink(req, c);
  const body = (req.body ?? {}) as Record<string, unknown>;
  const decision = body.decision;
  const reason = typeof body.reason === 'string' ? body.reason.trim() : '';
  const found = await find(c.gateway, link.target);
  if ((decision !== 'approve' && decision !== 'reject') || !reason) {
    // Refused here, before the workflow: the code is not spent by a form filled in halfway.
    return c.html(
      req,
      reply,
      400,
      'incomplete',
      c.show(found, link, {
        verdict: {
          accepted: false,
          text: 'Choose Approve or Reject and give a reason. Nothing was sent.',
        },
      }),
    );
  }
  const verdict = await c.gateway.submit(
    {
      workflowId: link.target.workflowId,
      gate: link.target.gate,
      approver: link.target.approver,
      decision,
      reason,
      code: link.code,
    },
    c.verdictTimeoutMs,
  );
  const after = await find(c.gateway, link.target).catch(() => found);
  return verdictPage(req, reply, c, { decision, verdict, after, link });
}

/** The workflow's verdict, on the page as it stands after it. */
function verdictPage(
  req: FastifyRequest,
  reply: FastifyReply,
  c: SubmitContext,
  v: { decision: 'approve' | 'reject'; verdict: Verdict; after: Found; link: Link },
) {
  const { decision, verdict, after, link } = v;
  if (verdict.kind === 'recorded') {
    const a = verdict.attempt;
    c.metrics.verdicts.inc({ decision, outcome: a.accepted ? 'accepted' : 'refused' });
    const text = a.accepted
      ? `${a.decision === 'reject' ? 'Rejection' : 'Approval'} accepted by the workflow. Gate "${verdict.gate.what}" is now ${verdict.gate.status}.`
      : `The workflow refused it: ${a.refusedBecause ?? 'refused'}.`;
    return c.html(
      req,
      reply,
      a.accepted ? 200 : 409,
      a.accepted ? 'accepted' : 'refused',
      c.show(after, link, { verdict: { accepted: a.accepted, text, attempt: a } }),
    );
  }
  c.metrics.verdicts.inc({ decision, outcome: verdict.kind });
  return c.html(
    req,
    reply,
    verdict.kind === 'no-answer' ? 504 : 409,
    verdict.kind,
    c.show(after, link, { verdict: { accepted: false, text: verdict.reason } }),
  );
}
