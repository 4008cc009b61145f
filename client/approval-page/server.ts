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
import { createFormTokens, type FormTokens } from './form-tokens';
import type { ApprovalGateway } from './gateway';
import { closedBecause, find, PageError, readLink, type Found, type Link } from './link';
import { createPageMetrics, type PageMetrics } from './metrics';
import { serviceRoutes } from '../service-routes';
import { submitForm } from './submit';
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

/** Every answer is an HTML page with the security headers; each request counted by route and outcome. */
function pageResponses(app: FastifyInstance, metrics: PageMetrics, tokens: FormTokens) {
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
  return { html, fail, show };
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
  const { html, fail, show } = pageResponses(app, metrics, tokens);

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
      return await submitForm(req, reply, {
        gateway: opts.gateway,
        linkKey: opts.linkKey,
        publicOrigin,
        verdictTimeoutMs,
        tokens,
        metrics,
        html,
        show,
      });
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
