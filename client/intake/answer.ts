/**
 * The intake's answer to one request: all of its alerts handled or none (a problem in one rejects the
 * request before anything starts), then one result per alert, the counts, one log line per alert (or
 * per incident, for a storm's folded repeats) and the metrics. 503 when Temporal took not all of them.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { RunbookId } from '../../definitions/types';
import type { Candidate } from './candidates';
import { actOnAll, type AlertResult, type IncidentGateway } from './delivery';
import type { IntakeMetrics } from './metrics';
import { outcomeOf, Rejection } from './rejection';

export interface AnswerContext {
  gateway: IncidentGateway;
  metrics: IntakeMetrics;
  alertRunbooks: Record<string, RunbookId>;
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

/** Throws the request's rejection when any alert cannot be handled. */
function rejectProblems(candidates: Candidate[], alertRunbooks: Record<string, RunbookId>): void {
  const problems = candidates.flatMap((c) => (c.kind === 'problem' ? [c.problem] : []));
  if (!problems.length) return;
  const unknownOnly = candidates.every((c) => c.kind !== 'problem' || c.unknownName);
  throw new Rejection(
    422,
    unknownOnly ? 'unknown_alert' : 'invalid',
    `${problems.length === 1 ? problems[0] : `${problems.length} alerts cannot be handled: ${problems.join('; ')}`}. Nothing was started.`,
    problems,
    { knownAlertNames: Object.keys(alertRunbooks) },
  );
}

/** The results in the request's order, with the links each alert lost. */
async function resultsOf(
  ctx: AnswerContext,
  req: FastifyRequest,
  candidates: Candidate[],
  fold: boolean,
): Promise<AlertResult[]> {
  const results = [
    ...candidates.flatMap((c) => (c.kind === 'ignored' ? [c.result] : [])),
    ...(await actOnAll(
      ctx.gateway,
      candidates.flatMap((c) => (c.kind === 'alert' ? [c.alert] : [])),
      fold,
      req,
    )),
  ].sort((x, y) => x.index - y.index);
  for (const c of candidates) {
    const r = c.kind === 'alert' ? results.find((x) => x.index === c.alert.index) : undefined;
    if (r && c.kind === 'alert' && c.linksDropped) r.linksDropped = c.linksDropped;
  }
  return results;
}

function summaryOf(results: AlertResult[], truncatedAlerts: number) {
  const count = (o: AlertResult['outcome']) => results.filter((r) => r.outcome === o).length;
  return {
    started: count('started'),
    joined: count('joined'),
    ...(count('queued') ? { queued: count('queued') } : {}),
    ...(count('recorded') ? { recorded: count('recorded') } : {}),
    ignored: count('ignored'),
    failed: count('failed'),
    ...(truncatedAlerts > 0
      ? {
          truncatedAlerts,
          warning: `Alertmanager left ${truncatedAlerts} alert(s) out of this notification (max_alerts on its receiver): they reached no incident; raise max_alerts or group more finely`,
        }
      : {}),
  };
}

export async function answerAlerts(
  ctx: AnswerContext,
  req: FastifyRequest,
  reply: FastifyReply,
  candidates: Candidate[],
  fold = false,
  truncatedAlerts = 0,
) {
  rejectProblems(candidates, ctx.alertRunbooks);
  const results = await resultsOf(ctx, req, candidates, fold);
  if (truncatedAlerts > 0) {
    // Those alerts never reached us: say so in the log, the metrics, the answer and (via each
    // alert's event) on every incident this notification reached.
    ctx.metrics.truncated.inc(truncatedAlerts);
    req.log.warn(
      {
        truncatedAlerts,
        delivered: candidates.length,
        workflowIds: results.flatMap((r) => r.workflowId ?? []),
      },
      "Alertmanager left alerts out of this notification (the receiver's max_alerts): they reached no incident",
    );
  }
  for (const r of results) ctx.metrics.alerts.inc({ runbook: r.runbook ?? 'unknown', outcome: r.outcome });
  logAlerts(req, results);
  const summary = summaryOf(results, truncatedAlerts);
  if (summary.failed) {
    outcomeOf.set(req, 'temporal_unavailable');
    return reply.code(503).send({
      error: 'temporal_unavailable',
      message: `${summary.failed} of ${results.length} alerts were not accepted by Temporal; retry the request (repeats join, they never start a second run)`,
      ...summary,
      results,
    });
  }
  outcomeOf.set(req, 'ok');
  return reply.code(200).send({ ...summary, results });
}
