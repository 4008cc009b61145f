/**
 * The alert intake: HTTP in, Temporal out. It authenticates the caller, validates the whole request,
 * maps every alert to its runbook and target, and only then starts or joins incidents, so a rejected
 * request never starts anything. It answers as soon as Temporal has accepted the start or signal;
 * the workflow does the work.
 *
 *   POST /alerts/alertmanager  Prometheus Alertmanager webhook, version 4
 *   POST /alerts               the simple JSON form (one alert) for any other caller
 *   GET  /healthz              liveness; GET /readyz also checks Temporal
 *   GET  /metrics              Prometheus metrics of the intake itself
 *
 * This file assembles the service; the steps of a request are rejection.ts (auth, JSON, shape),
 * candidates.ts (each alert mapped to its incident), delivery.ts (to Temporal) and answer.ts.
 */
import Fastify, {
  LogController,
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
} from 'fastify';
import type { RunbookId } from '../../definitions/types';
import { answerAlerts, type AnswerContext } from './answer';
import { answerDryRun, isDryRun } from './dry-run';
import type { AuthSettings } from './auth';
import { alertMapper } from './candidates';
import type { IncidentGateway } from './delivery';
import { createIntakeMetrics, type IntakeMetrics } from './metrics';
import { guarded, outcomeOf, parseBody, reject, Rejection } from './rejection';
import { serviceRoutes } from '../service-routes';
import { alertmanagerPayload, simpleAlert } from './schema';

export interface IntakeOptions {
  auth: AuthSettings;
  bodyLimitBytes: number;
  targetLabels: string[];
  alertRunbooks: Record<string, RunbookId>;
  unknownAlerts: 'reject' | 'ignore';
  /**
   * Policy overrides for the incidents alerts start, by runbook (INTAKE_RUNBOOK_POLICIES): shorter
   * windows for a demo or a test. A gate may only be tightened (client/incidents.ts refuses the rest).
   */
  runbookPolicies?: Partial<Record<RunbookId, Record<string, unknown>>>;
  gateway: IncidentGateway;
  metrics?: IntakeMetrics;
  /** Fastify logger option; false in tests. Request bodies and headers are never logged. */
  logger?: boolean | Record<string, unknown>;
}

/**
 * Fastify logs two lines per request; a storm is thousands of requests: one line, on completion,
 * with the method and URL that the incoming line carried (never headers or body).
 */
class CompletionLinesOnly extends LogController {
  override incomingRequest(): void {}
  override requestCompleted(error: Error | null | undefined, req: FastifyRequest, reply: FastifyReply): void {
    const fields = { req, res: reply, responseTime: reply.elapsedTime };
    if (error) reply.log.error({ ...fields, err: error }, 'request errored');
    else reply.log.info(fields, 'request completed');
  }
}

/**
 * The intake's logger: JSON lines (pino) on stdout. The default request serializer logs method and
 * URL, not headers; the redaction is a second guard for the bearer token and the HMAC signature.
 */
export const intakeLoggerOptions: Record<string, unknown> = {
  level: 'info',
  redact: {
    paths: ['req.headers.authorization', 'req.headers["x-signature-256"]', 'headers.authorization'],
    censor: '***',
  },
};

export async function buildIntake(opts: IntakeOptions): Promise<FastifyInstance> {
  const metrics = opts.metrics ?? createIntakeMetrics();
  const app = Fastify({
    logger: opts.logger ?? false,
    logController: new CompletionLinesOnly(),
    bodyLimit: opts.bodyLimitBytes,
    // Alertmanager retries on 5xx; a slow Temporal must not hold connections forever.
    connectionTimeout: 30_000,
    requestTimeout: 30_000,
  });

  // The raw bytes are kept: the HMAC is over them, and JSON errors are ours to word.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));

  app.addHook('onResponse', async (req, reply) => {
    const endpoint = req.routeOptions.url ?? 'unmatched';
    const outcome = outcomeOf.get(req) ?? (reply.statusCode < 400 ? 'ok' : `http_${reply.statusCode}`);
    metrics.requests.inc({ endpoint, outcome });
    metrics.duration.observe({ endpoint }, reply.elapsedTime / 1000);
  });
  answerErrors(app, opts.bodyLimitBytes);
  alertRoutes(app, opts, { gateway: opts.gateway, metrics, alertRunbooks: opts.alertRunbooks });
  serviceRoutes(app, { ready: () => opts.gateway.ready(), registry: metrics.registry });
  return app;
}

/** Fastify's own errors (body too large, wrong media type, no such endpoint) as named rejections. */
function answerErrors(app: FastifyInstance, bodyLimitBytes: number): void {
  app.setErrorHandler((err: FastifyError, req, reply) => {
    const status = err.statusCode ?? 500;
    const byCode: Record<string, Rejection> = {
      FST_ERR_CTP_BODY_TOO_LARGE: new Rejection(
        413,
        'too_large',
        `body too large: the limit is ${bodyLimitBytes} bytes (INTAKE_BODY_LIMIT_BYTES); split the batch`,
      ),
      FST_ERR_CTP_INVALID_MEDIA_TYPE: new Rejection(
        415,
        'unsupported_media_type',
        `unsupported Content-Type "${String(req.headers['content-type'] ?? '')}": send application/json`,
      ),
    };
    const known = err.code ? byCode[err.code] : undefined;
    if (known) return reject(req, reply, known);
    if (status < 500) return reject(req, reply, new Rejection(status, 'bad_request', err.message));
    req.log.error({ err: { message: err.message, code: err.code } }, 'intake failed');
    outcomeOf.set(req, 'error');
    return reply
      .code(500)
      .send({ error: 'internal', message: 'the intake failed; it was logged; retry later' });
  });

  app.setNotFoundHandler((req, reply) =>
    reject(
      req,
      reply,
      new Rejection(
        404,
        'not_found',
        `no such endpoint ${req.method} ${req.url.split('?')[0]}: use POST /alerts/alertmanager (Alertmanager webhook v4) or POST /alerts (simple JSON)`,
      ),
    ),
  );
}

/** POST /alerts/alertmanager (the webhook, version 4) and POST /alerts (one alert, simple JSON). */
function alertRoutes(app: FastifyInstance, opts: IntakeOptions, answer: AnswerContext): void {
  const mapAlert = alertMapper(opts);
  app.post(
    '/alerts/alertmanager',
    guarded(async (req, reply) => {
      const body = parseBody(
        opts.auth,
        req,
        alertmanagerPayload,
        'an Alertmanager webhook (version 4) payload',
      );
      const source = `alertmanager (receiver ${body.receiver})`;
      return answerAlerts(
        answer,
        req,
        reply,
        body.alerts.map((a, i) =>
          mapAlert(
            i,
            {
              ...a,
              labels: { ...body.commonLabels, ...a.labels },
              annotations: a.annotations,
              externalURL: body.externalURL || undefined,
              truncatedAlerts: body.truncatedAlerts,
            },
            source,
          ),
        ),
        // Alertmanager's repeats are what storms are made of: fold them when configured.
        true,
        body.truncatedAlerts ?? 0,
      );
    }),
  );

  app.post(
    '/alerts',
    guarded(async (req, reply) => {
      const body = parseBody(
        opts.auth,
        req,
        simpleAlert,
        'one alert ({"alertName" or "runbook", "target", ...})',
      );
      const candidate = mapAlert(0, body, 'intake (simple JSON)');
      if (isDryRun(req)) return answerDryRun(answer, req, reply, candidate);
      return answerAlerts(answer, req, reply, [candidate]);
    }),
  );
}
