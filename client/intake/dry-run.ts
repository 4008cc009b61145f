/**
 * `POST /alerts?dryRun=1`: the alert, validated and mapped like any other, starts a dry run of its
 * runbook (workflows/dry-run.ts) instead of an incident: a workflow of its own (`dryrun-…`, incident
 * ID `DRYRUN-…`, `DryRun = 'true'`), never joined to a running incident, never folded, never
 * recorded on a closed one's episode (client/intake/episodes.ts is not asked).
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AnswerContext } from './answer';
import type { Candidate } from './candidates';
import { outcomeOf, Rejection } from './rejection';

/** `?dryRun=1` or `?dryRun=true`; any other value is refused rather than taken for a real alert. */
export function isDryRun(req: FastifyRequest): boolean {
  const v = (req.query as Record<string, unknown> | undefined)?.dryRun;
  if (v === undefined) return false;
  if (v === '1' || v === 'true') return true;
  if (v === '0' || v === 'false') return false;
  throw new Rejection(
    400,
    'invalid',
    `dryRun=${JSON.stringify(v).slice(0, 20)}: use dryRun=1 (or leave it out)`,
  );
}

export async function answerDryRun(
  ctx: AnswerContext,
  req: FastifyRequest,
  reply: FastifyReply,
  c: Candidate,
) {
  if (c.kind === 'problem')
    throw new Rejection(
      422,
      c.unknownName ? 'unknown_alert' : 'invalid',
      `${c.problem}. Nothing was started.`,
    );
  if (c.kind === 'ignored') return reply.code(200).send({ dryRun: true, started: 0, results: [c.result] });
  const a = c.alert;
  if (a.status !== 'firing')
    throw new Rejection(
      422,
      'invalid',
      'a dry run rehearses a firing alert: status "resolved" starts nothing',
    );
  const base = { index: a.index, alertName: a.alertName, runbook: a.runbook, target: a.target, dryRun: true };
  try {
    const r = await ctx.gateway.dryRun(a);
    req.log.info({ ...base, workflowId: r.workflowId }, 'dry run started');
    outcomeOf.set(req, 'ok');
    return reply.code(200).send({ dryRun: true, started: 1, results: [{ ...base, ...r }] });
  } catch (err) {
    outcomeOf.set(req, 'temporal_unavailable');
    return reply.code(503).send({
      error: 'temporal_unavailable',
      message: `the dry run was not accepted by Temporal: ${(err as Error).message}; retry`,
    });
  }
}
