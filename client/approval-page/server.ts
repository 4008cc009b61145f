/**
 * The approval page service (issue 20): the link in an approval message opens a page for one approver
 * and one gate; the POST of its form is the approver's submission, sent to the workflow as the same
 * `approval` signal the Temporal UI and the CLI send, and answered with the workflow's own verdict.
 *
 *   GET  /a/<workflowId>/<gate>/<approver>/<round>?v=<view signature>&k=<link code>
 *        shows the incident, the evidence and the form. NEVER decides (mail scanners and link
 *        previews fetch links): it only queries the workflow.
 *   POST the same URL (form: form token, decision, reason): decides, through the workflow.
 *   GET  /healthz (liveness), /readyz (Temporal reachable), /metrics (Prometheus)
 *
 * Threat model (as the intake's): the page is reachable by anyone; the link's view signature lets
 * only its holder see the incident; deciding takes the link's code, which only the workflow (through
 * the worker's key) can check. A POST must come from the page's own origin (Origin, else
 * Sec-Fetch-Site) and carry a single-use form token issued with the page (CSRF, double submits and
 * replays are refused before anything reaches the workflow); the workflow spends the code on the
 * first submission anyway. Nothing secret is logged: no URL, no query, no body.
 */
import Fastify, {
  LogController,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
} from 'fastify';
import { normalizeCode, CODE_ALPHABET, CODE_LENGTH } from '../../activities/approval-codes';
import { linkPath, viewSignatureValid, type LinkTarget } from '../../activities/approval-links';
import type { ApprovalCodeRecord, ApprovalGateRecord } from '../../definitions/approval';
import type { IncidentState } from '../../definitions/types';
import { createFormTokens, linkIdOf, type FormTokens } from './form-tokens';
import type { ApprovalGateway } from './gateway';
import { createPageMetrics, type PageMetrics } from './metrics';
import { serviceRoutes } from '../service-routes';
import { approvalPage, problemPage, STYLE_HASH, type PageView } from './view';

export interface ApprovalPageOptions {
  gateway: ApprovalGateway;
  /** The page's public origin (APPROVAL_PAGE_URL): POSTs must come from it. */
  publicUrl: string;
  linkKey: Buffer;
  verdictTimeoutMs?: number;
  metrics?: PageMetrics;
  tokens?: FormTokens;
  /** Fastify logger option; false in tests. URLs, queries and bodies are never logged. */
  logger?: boolean | Record<string, unknown>;
}

export const approvalPageLoggerOptions: Record<string, unknown> = {
  level: 'info',
  // The link's secrets are in the URL: requests are logged by route pattern only.
  serializers: {
    req: (r: { method?: string; routeOptions?: { url?: string } }) => ({
      method: r.method,
      route: r.routeOptions?.url,
    }),
  },
};

/** Fastify's own request lines carry the URL (the link's secrets): none; ours (onResponse) name the route. */
class NoRequestLines extends LogController {
  override incomingRequest(): void {}
  override requestCompleted(): void {}
}

const SECURITY_HEADERS = {
  'cache-control': 'no-store',
  'content-security-policy': `default-src 'none'; style-src ${STYLE_HASH}; form-action 'self'; frame-ancestors 'none'; base-uri 'none'`,
  // The URL holds the link's secrets: no other site ever sees it as a referrer.
  'referrer-policy': 'same-origin',
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
};

interface LinkParams {
  wf: string;
  gate: string;
  approver: string;
  round: string;
}

interface Link {
  target: LinkTarget;
  code: string;
  linkId: string;
}

class PageError extends Error {
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
function readLink(req: FastifyRequest, key: Buffer): Link {
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

interface Found {
  state: IncidentState;
  gate: ApprovalGateRecord;
  code: ApprovalCodeRecord;
}

async function find(gateway: ApprovalGateway, t: LinkTarget): Promise<Found> {
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
function closedBecause(f: Found, nowMs: number): string | undefined {
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

function sameOrigin(req: FastifyRequest, publicOrigin: string): boolean {
  const origin = req.headers.origin;
  if (typeof origin === 'string') return origin === publicOrigin;
  // Browsers that send no Origin on a same-origin POST send Sec-Fetch-Site.
  return req.headers['sec-fetch-site'] === 'same-origin';
}

export async function buildApprovalPage(opts: ApprovalPageOptions): Promise<FastifyInstance> {
  const metrics = opts.metrics ?? createPageMetrics();
  const tokens = opts.tokens ?? createFormTokens();
  const publicOrigin = new URL(opts.publicUrl).origin;
  const verdictTimeoutMs = opts.verdictTimeoutMs ?? 30_000;
  const app = Fastify({
    logger: opts.logger ?? false,
    logController: new NoRequestLines(),
    bodyLimit: 8 * 1024,
    connectionTimeout: 60_000,
    requestTimeout: verdictTimeoutMs + 15_000,
  });
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, body, done) =>
    done(null, Object.fromEntries(new URLSearchParams(body as string))),
  );

  const outcomes = new WeakMap<FastifyRequest, string>();
  app.addHook('onResponse', async (req, reply) => {
    const endpoint = req.routeOptions.url ?? 'unmatched';
    const outcome = outcomes.get(req) ?? String(reply.statusCode);
    metrics.requests.inc({ endpoint, outcome });
    metrics.duration.observe({ endpoint }, reply.elapsedTime / 1000);
    req.log.info({ route: endpoint, method: req.method, status: reply.statusCode, outcome }, 'request');
  });

  const html = (req: FastifyRequest, reply: FastifyReply, status: number, outcome: string, body: string) => {
    outcomes.set(req, outcome);
    return reply.code(status).headers(SECURITY_HEADERS).type('text/html; charset=utf-8').send(body);
  };
  const fail = (req: FastifyRequest, reply: FastifyReply, err: unknown) => {
    if (err instanceof PageError)
      return html(req, reply, err.status, err.outcome, problemPage(err.title, err.message));
    req.log.warn({ err: { message: (err as Error).message } }, 'approval page failed');
    return html(
      req,
      reply,
      503,
      'unavailable',
      problemPage(
        'Cannot reach the incident',
        'Temporal did not answer. Nothing was decided; try again in a minute.',
      ),
    );
  };
  const show = (found: Found, link: Link, extra: Partial<PageView> = {}): string => {
    const nowMs = Date.now();
    const why = closedBecause(found, nowMs);
    return approvalPage({
      ...found,
      approver: link.target.approver,
      nowMs,
      closedBecause: why,
      formToken: why ? undefined : tokens.issue(link.linkId),
      ...extra,
    });
  };

  const route = '/a/:wf/:gate/:approver/:round';
  // Looks only: a query, never a signal.
  app.get(route, async (req, reply) => {
    try {
      const link = readLink(req, opts.linkKey);
      const found = await find(opts.gateway, link.target);
      return html(req, reply, 200, 'shown', show(found, link));
    } catch (err) {
      return fail(req, reply, err);
    }
  });

  app.post(route, async (req, reply) => {
    try {
      if (!sameOrigin(req, publicOrigin))
        throw new PageError(
          403,
          'cross-origin',
          'Refused: not sent from the approval page',
          'This request came from another site. Nothing was decided. Open the link from your message and answer there.',
        );
      const link = readLink(req, opts.linkKey);
      const body = (req.body ?? {}) as Record<string, unknown>;
      const token = typeof body.form === 'string' ? body.form : '';
      const used = tokens.consume(token, link.linkId);
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
      const decision = body.decision;
      const reason = typeof body.reason === 'string' ? body.reason.trim() : '';
      const found = await find(opts.gateway, link.target);
      if ((decision !== 'approve' && decision !== 'reject') || !reason) {
        // Refused here, before the workflow: the code is not spent by a form filled in halfway.
        return html(
          req,
          reply,
          400,
          'incomplete',
          show(found, link, {
            verdict: {
              accepted: false,
              text: 'Choose Approve or Reject and give a reason. Nothing was sent.',
            },
          }),
        );
      }
      const verdict = await opts.gateway.submit(
        {
          workflowId: link.target.workflowId,
          gate: link.target.gate,
          approver: link.target.approver,
          decision,
          reason,
          code: link.code,
        },
        verdictTimeoutMs,
      );
      const after = await find(opts.gateway, link.target).catch(() => found);
      if (verdict.kind === 'recorded') {
        const a = verdict.attempt;
        metrics.verdicts.inc({ decision, outcome: a.accepted ? 'accepted' : 'refused' });
        const text = a.accepted
          ? `${a.decision === 'reject' ? 'Rejection' : 'Approval'} accepted by the workflow. Gate "${verdict.gate.what}" is now ${verdict.gate.status}.`
          : `The workflow refused it: ${a.refusedBecause ?? 'refused'}.`;
        return html(
          req,
          reply,
          a.accepted ? 200 : 409,
          a.accepted ? 'accepted' : 'refused',
          show(after, link, { verdict: { accepted: a.accepted, text, attempt: a } }),
        );
      }
      metrics.verdicts.inc({ decision, outcome: verdict.kind });
      return html(
        req,
        reply,
        verdict.kind === 'no-answer' ? 504 : 409,
        verdict.kind,
        show(after, link, { verdict: { accepted: false, text: verdict.reason } }),
      );
    } catch (err) {
      return fail(req, reply, err);
    }
  });

  // Fastify's default 404 logs the URL, which may hold a link's secrets (a cut or altered link).
  app.setNotFoundHandler((req, reply) =>
    html(
      req,
      reply,
      404,
      'not-found',
      problemPage('Not found', 'There is no page here. Use the link from your message, whole.'),
    ),
  );
  serviceRoutes(app, { ready: () => opts.gateway.ready(), registry: metrics.registry });
  return app;
}
