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
 */
import Fastify, {
  LogController,
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
} from 'fastify';
import type { Client } from '@temporalio/client';
import type { z } from 'zod';
import { incidentWorkflowId, RUNBOOK_WORKFLOWS } from '../incidents';
import { RUNBOOKS } from '../../definitions/catalog';
import { linkProblem } from '../../definitions/links';
import type { RunbookId } from '../../definitions/types';
import { authenticate, type AuthSettings } from './auth';
import { DEFAULT_EPISODE_POLICY, deliverAlert, type DeliveryResult, type EpisodePolicy } from './episodes';
import { describeKnownAlerts, targetOf } from './mapping';
import { createIntakeMetrics, type IntakeMetrics } from './metrics';
import { serviceRoutes } from '../service-routes';
import { alertmanagerPayload, CHARGE_ID, describeIssues, simpleAlert, type MappedAlert } from './schema';

/** What the intake needs from Temporal; tests may wrap it to count calls. */
export interface IncidentGateway {
  /**
   * Start the incident, join the running one, or record the firing on the closed incident of its
   * episode (client/intake/episodes.ts); exactly one firing counted.
   */
  fire(alert: MappedAlert): Promise<DeliveryResult>;
  /** Deliver a resolution to the running incident or record it on the closed one; never starts one. */
  resolve(alert: MappedAlert): Promise<DeliveryResult>;
  /** Throws when Temporal cannot be reached. */
  ready(): Promise<void>;
  /**
   * Alert-storm folding (client/intake/fold.ts), when configured: records the alert durably and
   * delivers it with the other repeats for its incident as one counted signal.
   */
  fold?: { add(alerts: MappedAlert[]): Promise<void> };
}

export function temporalGateway(
  client: Client,
  taskQueue: string,
  episodes: EpisodePolicy = DEFAULT_EPISODE_POLICY,
): IncidentGateway {
  const deliver = (a: MappedAlert, firing: number, resolved: number) =>
    deliverAlert({
      client,
      taskQueue,
      event: a.event,
      alert: a,
      workflowId: a.workflowId,
      firing,
      resolved,
      policy: episodes,
    });
  return {
    fire: (a) => deliver(a, 1, 0),
    resolve: (a) => deliver(a, 0, 1),
    async ready() {
      await client.connection.withDeadline(Date.now() + 2000, () => client.workflowService.getSystemInfo({}));
    },
  };
}

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

export interface AlertResult {
  index: number;
  alertName?: string;
  status?: 'firing' | 'resolved';
  runbook?: RunbookId;
  target?: string;
  workflowId?: string;
  /** `recorded`: on the closed incident of its alert episode (its follow-up), not a new incident. */
  outcome: 'started' | 'joined' | 'recorded' | 'queued' | 'ignored' | 'failed';
  reason?: string;
  /** Links of the alert that were not kept (not plain http(s) URLs); the alert itself was handled. */
  linksDropped?: string[];
}

/** A rejection: status, a short code, and a message that names the problem. */
class Rejection extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly problems?: string[],
    readonly extra?: Record<string, unknown>,
  ) {
    super(message);
  }
}

type Candidate =
  | { kind: 'alert'; alert: MappedAlert; linksDropped?: string[] }
  | { kind: 'ignored'; result: AlertResult }
  | { kind: 'problem'; problem: string; unknownName?: boolean };

const outcomeOf = new WeakMap<FastifyRequest, string>();

/**
 * One log line per alert, with the incident's workflow ID, so a line in the intake's log leads to
 * the incident in the Temporal UI. Only what was mapped is logged: never the body, labels or headers.
 * Folded alerts (`queued`: a storm's repeats) get one line per incident and request, with the counts,
 * so a storm of 10,000 alerts is not 10,000 lines.
 */
function logAlerts(req: FastifyRequest, results: AlertResult[]): void {
  const queued = new Map<string, { first: AlertResult; firing: number; resolved: number }>();
  for (const r of results) {
    if (r.outcome === 'queued' && r.workflowId) {
      const q = queued.get(r.workflowId) ?? { first: r, firing: 0, resolved: 0 };
      q[r.status === 'resolved' ? 'resolved' : 'firing']++;
      queued.set(r.workflowId, q);
      continue;
    }
    const fields = { ...alertFields(r), reason: r.reason, linksDropped: r.linksDropped };
    if (r.outcome === 'failed') req.log.warn(fields, `alert not accepted by Temporal`);
    else req.log.info(fields, `alert ${r.outcome}`);
  }
  for (const { first, firing, resolved } of queued.values())
    req.log.info({ ...alertFields(first), alertStatus: undefined, firing, resolved }, 'alert queued');
}

const alertFields = (r: AlertResult) => ({
  workflowId: r.workflowId,
  runbook: r.runbook,
  target: r.target,
  alertName: r.alertName?.slice(0, 128),
  alertStatus: r.status,
  outcome: r.outcome,
});

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
  const known = describeKnownAlerts(opts.alertRunbooks);
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

  const reject = (req: FastifyRequest, reply: FastifyReply, r: Rejection) => {
    outcomeOf.set(req, r.code);
    if (r.status === 401) reply.header('www-authenticate', 'Bearer realm="accubooks-intake"');
    return reply.code(r.status).send({
      error: r.code,
      message: r.message,
      ...(r.problems ? { problems: r.problems } : {}),
      ...r.extra,
      started: 0,
    });
  };

  app.setErrorHandler((err: FastifyError, req, reply) => {
    const status = err.statusCode ?? 500;
    const byCode: Record<string, Rejection> = {
      FST_ERR_CTP_BODY_TOO_LARGE: new Rejection(
        413,
        'too_large',
        `body too large: the limit is ${opts.bodyLimitBytes} bytes (INTAKE_BODY_LIMIT_BYTES); split the batch`,
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

  /** Auth, then JSON, then shape: the order in which a caller can fix things. */
  function parseBody<S extends z.ZodType>(req: FastifyRequest, schema: S, what: string): z.infer<S> {
    const raw = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    const auth = authenticate(opts.auth, req.headers, raw);
    if (!auth.ok) throw new Rejection(401, 'unauthorized', auth.problem);
    if (raw.length === 0) {
      throw new Rejection(
        400,
        'malformed',
        `empty body: send ${what} as JSON with Content-Type: application/json`,
      );
    }
    let json: unknown;
    try {
      json = JSON.parse(raw.toString('utf8'));
    } catch (err) {
      throw new Rejection(400, 'malformed', `malformed JSON: ${(err as Error).message}`);
    }
    const parsed = schema.safeParse(json);
    if (!parsed.success) {
      const problems = describeIssues(parsed.error);
      throw new Rejection(422, 'invalid', `wrong shape for ${what}: ${problems.join('; ')}`, problems);
    }
    return parsed.data;
  }

  function mapAlert(
    index: number,
    a: {
      alertName?: string;
      runbook?: RunbookId;
      status: 'firing' | 'resolved';
      target?: string;
      labels: Record<string, string>;
      annotations: Record<string, string>;
      startsAt?: string;
      endsAt?: string;
      fingerprint?: string;
      description?: string;
      values?: Record<string, number | string>;
      startedBy?: string;
      charges?: string[];
      violation?: string;
      generatorURL?: string;
      externalURL?: string;
      truncatedAlerts?: number;
    },
    source: string,
  ): Candidate {
    const where = `alert ${index}`;
    const alertName = a.alertName ?? a.labels.alertname ?? (a.runbook ? `${a.runbook}-manual` : '');
    let runbook: RunbookId | undefined =
      (a.alertName || a.labels.alertname) && Object.hasOwn(opts.alertRunbooks, alertName)
        ? opts.alertRunbooks[alertName]
        : undefined;
    if (a.runbook) {
      if (runbook && runbook !== a.runbook) {
        return {
          kind: 'problem',
          problem: `${where}: alert ${alertName} maps to ${runbook}, not to the runbook ${a.runbook} given`,
        };
      }
      runbook = a.runbook;
    }
    if (!runbook) {
      if (opts.unknownAlerts === 'ignore') {
        return {
          kind: 'ignored',
          result: {
            index,
            alertName,
            status: a.status,
            outcome: 'ignored',
            reason: `unknown alert name ${alertName}`,
          },
        };
      }
      return {
        kind: 'problem',
        unknownName: true,
        problem: `${where}: unknown alert name "${alertName.slice(0, 128)}"; known alert names: ${known}`,
      };
    }
    if (!Object.hasOwn(RUNBOOK_WORKFLOWS, runbook)) {
      return {
        kind: 'problem',
        problem: `${where}: runbook ${runbook} (${RUNBOOKS[runbook].name}) has no workflow in this build; runbooks that can start: ${Object.keys(RUNBOOK_WORKFLOWS).join(', ')}`,
      };
    }
    const target = a.target
      ? targetOf({ target: a.target }, ['target'])
      : targetOf(a.labels, opts.targetLabels);
    if (!target.ok) return { kind: 'problem', problem: `${where}: ${target.problem}` };

    const values: Record<string, number | string> = { ...(a.values ?? {}) };
    if (a.annotations.value !== undefined) {
      const n = Number(a.annotations.value);
      values.value = a.annotations.value.trim() !== '' && Number.isFinite(n) ? n : a.annotations.value;
    }
    // Alertmanager writes 0001-01-01T00:00:00Z for "not set".
    const setTime = (t?: string) => (t && !t.startsWith('0001-') ? t : undefined);
    const receivedAt = new Date().toISOString();
    const description = a.description ?? a.annotations.description ?? a.annotations.summary;
    // An alert may carry the charges as an annotation: `charges: "ch_1,ch_2"`; a bad one is named.
    const annotated = a.annotations.charges?.split(/[\s,;]+/).filter(Boolean);
    const badCharge = annotated?.find((c) => !CHARGE_ID.test(c));
    if (badCharge && !a.charges)
      return {
        kind: 'problem',
        problem: `${where}: annotation charges: "${badCharge.slice(0, 80)}" is not a Stripe charge (ch_…) or payment intent (pi_…) ID`,
      };
    const charges = a.charges ?? annotated;
    // Links are shown to people, never fetched: only plain http(s) URLs are kept. A bad link drops
    // the link, not the alert (Alertmanager does not retry a 4xx; the alert would be lost).
    const links: Record<string, string | undefined> = {};
    const linksDropped: string[] = [];
    for (const [name, v] of [
      ['generatorURL', a.generatorURL],
      ['externalURL', a.externalURL],
    ] as const) {
      if (!v) continue;
      const problem = linkProblem(v);
      if (problem) linksDropped.push(`${name}: ${problem}`);
      else links[name] = v;
    }
    const truncatedAlerts = a.truncatedAlerts ? a.truncatedAlerts : undefined;
    const extraInput =
      runbook === 'P0-3'
        ? { charges, reportedBy: a.startedBy ?? source }
        : runbook === 'P0-4'
          ? { violation: a.violation ?? description }
          : undefined;
    return {
      kind: 'alert',
      alert: {
        index,
        alertName,
        status: a.status,
        runbook: runbook,
        target: target.target,
        workflowId: incidentWorkflowId(runbook, target.target),
        trigger: {
          source: 'alert',
          alertName,
          labels: a.labels,
          annotations: a.annotations,
          startsAt: setTime(a.startsAt),
          fingerprint: a.fingerprint,
          startedBy: a.startedBy ?? source,
          description,
          values: Object.keys(values).length ? values : undefined,
          generatorURL: links.generatorURL,
          externalURL: links.externalURL,
          truncatedAlerts,
        },
        event: {
          status: a.status,
          alertName,
          fingerprint: a.fingerprint,
          startsAt: setTime(a.startsAt),
          endsAt: setTime(a.endsAt),
          receivedAt,
          values: Object.keys(values).length ? values : undefined,
          // P0-3: a later alert's charges join the running incident (never folded away, see actOnAll).
          charges: runbook === 'P0-3' && charges?.length ? charges : undefined,
          labels: a.labels,
          truncatedAlerts,
        },
        extraInput,
        policy: opts.runbookPolicies?.[runbook],
      },
      linksDropped: linksDropped.length ? linksDropped : undefined,
    };
  }

  async function act(alert: MappedAlert): Promise<AlertResult> {
    const base = {
      index: alert.index,
      alertName: alert.alertName,
      status: alert.status,
      runbook: alert.runbook,
      target: alert.target,
      workflowId: alert.workflowId,
    };
    try {
      const r = await (alert.status === 'firing' ? opts.gateway.fire(alert) : opts.gateway.resolve(alert));
      return { ...base, outcome: r.outcome, reason: r.reason };
    } catch (err) {
      return { ...base, outcome: 'failed', reason: `Temporal did not accept it: ${(err as Error).message}` };
    }
  }

  /** Alerts for one workflow go in order (firing before its resolution); different workflows in parallel. */
  async function actOnAll(alerts: MappedAlert[], fold: boolean, req: FastifyRequest): Promise<AlertResult[]> {
    // Alerts that carry charges go straight to their incident: folding keeps only the latest event.
    const direct = alerts.filter((a) => a.event.charges?.length);
    if (direct.length && fold && opts.gateway.fold) {
      const rest = alerts.filter((a) => !a.event.charges?.length);
      const [d, r] = await Promise.all([actOnAll(direct, false, req), actOnAll(rest, true, req)]);
      return [...d, ...r];
    }
    if (fold && opts.gateway.fold && alerts.length) {
      try {
        await opts.gateway.fold.add(alerts);
        return alerts.map((a) => ({
          index: a.index,
          alertName: a.alertName,
          status: a.status,
          runbook: a.runbook,
          target: a.target,
          workflowId: a.workflowId,
          outcome: 'queued',
          reason:
            'recorded; it starts the incident or is added to its alert count within the fold window (repeats never start a second run)',
        }));
      } catch (err) {
        // Redis is down: the alerts go to Temporal directly, as without folding. Nothing is lost.
        req.log.warn(
          { err: { message: (err as Error).message } },
          'alert folding unavailable; sending directly',
        );
      }
    }
    const byWorkflow = new Map<string, MappedAlert[]>();
    for (const a of alerts) byWorkflow.set(a.workflowId, [...(byWorkflow.get(a.workflowId) ?? []), a]);
    const results: AlertResult[] = [];
    await Promise.all(
      [...byWorkflow.values()].map(async (group) => {
        for (const a of group) results.push(await act(a));
      }),
    );
    return results;
  }

  async function handle(
    req: FastifyRequest,
    reply: FastifyReply,
    candidates: Candidate[],
    fold = false,
    truncatedAlerts = 0,
  ) {
    const problems = candidates.flatMap((c) => (c.kind === 'problem' ? [c.problem] : []));
    if (problems.length) {
      const unknownOnly = candidates.every((c) => c.kind !== 'problem' || c.unknownName);
      throw new Rejection(
        422,
        unknownOnly ? 'unknown_alert' : 'invalid',
        `${problems.length === 1 ? problems[0] : `${problems.length} alerts cannot be handled: ${problems.join('; ')}`}. Nothing was started.`,
        problems,
        { knownAlertNames: Object.keys(opts.alertRunbooks) },
      );
    }
    const results = [
      ...candidates.flatMap((c) => (c.kind === 'ignored' ? [c.result] : [])),
      ...(await actOnAll(
        candidates.flatMap((c) => (c.kind === 'alert' ? [c.alert] : [])),
        fold,
        req,
      )),
    ].sort((x, y) => x.index - y.index);
    for (const c of candidates) {
      const r = c.kind === 'alert' ? results.find((x) => x.index === c.alert.index) : undefined;
      if (r && c.kind === 'alert' && c.linksDropped) r.linksDropped = c.linksDropped;
    }
    if (truncatedAlerts > 0) {
      // Those alerts never reached us: say so in the log, the metrics, the answer and (via each
      // alert's event) on every incident this notification reached.
      metrics.truncated.inc(truncatedAlerts);
      req.log.warn(
        {
          truncatedAlerts,
          delivered: candidates.length,
          workflowIds: results.flatMap((r) => r.workflowId ?? []),
        },
        "Alertmanager left alerts out of this notification (the receiver's max_alerts): they reached no incident",
      );
    }
    for (const r of results) metrics.alerts.inc({ runbook: r.runbook ?? 'unknown', outcome: r.outcome });
    logAlerts(req, results);
    const failed = results.filter((r) => r.outcome === 'failed').length;
    const count = (o: AlertResult['outcome']) => results.filter((r) => r.outcome === o).length;
    const summary = {
      started: count('started'),
      joined: count('joined'),
      ...(count('queued') ? { queued: count('queued') } : {}),
      ...(count('recorded') ? { recorded: count('recorded') } : {}),
      ignored: count('ignored'),
      failed,
      ...(truncatedAlerts > 0
        ? {
            truncatedAlerts,
            warning: `Alertmanager left ${truncatedAlerts} alert(s) out of this notification (max_alerts on its receiver): they reached no incident; raise max_alerts or group more finely`,
          }
        : {}),
    };
    if (failed) {
      outcomeOf.set(req, 'temporal_unavailable');
      return reply.code(503).send({
        error: 'temporal_unavailable',
        message: `${failed} of ${results.length} alerts were not accepted by Temporal; retry the request (repeats join, they never start a second run)`,
        ...summary,
        results,
      });
    }
    outcomeOf.set(req, 'ok');
    return reply.code(200).send({ ...summary, results });
  }

  const guarded =
    (fn: (req: FastifyRequest, reply: FastifyReply) => Promise<unknown>) =>
    async (req: FastifyRequest, reply: FastifyReply) => {
      try {
        return await fn(req, reply);
      } catch (err) {
        if (err instanceof Rejection) return reject(req, reply, err);
        throw err;
      }
    };

  app.post(
    '/alerts/alertmanager',
    guarded(async (req, reply) => {
      const body = parseBody(req, alertmanagerPayload, 'an Alertmanager webhook (version 4) payload');
      const source = `alertmanager (receiver ${body.receiver})`;
      return handle(
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
      const body = parseBody(req, simpleAlert, 'one alert ({"alertName" or "runbook", "target", ...})');
      return handle(req, reply, [mapAlert(0, body, 'intake (simple JSON)')]);
    }),
  );

  serviceRoutes(app, { ready: () => opts.gateway.ready(), registry: metrics.registry });

  return app;
}
