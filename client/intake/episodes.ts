/**
 * Alert episodes: what one notification means for the incidents of its runbook and target.
 *
 * An episode is one alert (Alertmanager's `fingerprint`) from one start (`startsAt`). Alertmanager
 * sends the same episode again and again while it fires (group_interval, repeat_interval, a new
 * alert joining the group, a second replica), and the runbook often fixes the target before
 * Prometheus has seen the recovery. So:
 *   - an incident runs for the runbook and target: the notification joins it (information only);
 *   - the incident that this episode started has closed: the notification does NOT start a new one.
 *     It is recorded on the closed incident ("still firing 40 s after resolution"), through its
 *     post-incident follow-up (a closed workflow takes no signals; see workflows/post-incident.ts).
 *     Only when the episode still fires past the grace (default twice the rule's `for:`, taken from
 *     the alert's `for` annotation) does a new incident start, marked as a recurrence of the closed
 *     one (trigger.recurrence, search attribute RecurrenceOf);
 *   - anything else (no incident yet, a new episode: another startsAt after the resolution) starts
 *     a new incident, as a first alert does.
 * A resolution never starts anything: it joins the running incident, or is recorded on the closed
 * one of its episode, or is ignored.
 *
 * How it looks: a firing first tries a start that any run of the ID refuses, running or closed (the
 * usual first alert of an incident: one call); only when refused does it describe that run and
 * decide as above.
 *
 * The intake keeps no state of its own for this: the closed incident's memo (client/incidents.ts)
 * holds its incident ID and episode, and Temporal its close time. Incident IDs never collide: a
 * recurrence takes the time it was detected, and an ID equal to the closed incident's is moved on.
 */
import type { Client } from '@temporalio/client';
import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError } from '@temporalio/common';
import { alertAfterCloseSignal, alertSignal, followUpWorkflowId } from '../../definitions/messages';
import type { AlertEvent, Recurrence, RunbookId } from '../../definitions/types';
import { newIncidentId, startIncident, type IncidentMemo } from '../incidents';
import type { MappedAlert } from './schema';

export interface EpisodePolicy {
  /** One grace (ms) for every alert; unset: twice the alert's `for` annotation. */
  graceMs?: number;
  /** The grace when the alert carries no `for` annotation (ms). */
  defaultGraceMs: number;
}

/** Twice the longest of the runbook rules' `for:` (5 min) when an alert does not say its own. */
export const DEFAULT_EPISODE_POLICY: EpisodePolicy = { defaultGraceMs: 10 * 60_000 };

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** A Prometheus duration ("3m", "1h30m", "10s", "500ms") in ms; undefined when it is not one. */
export function parseDuration(text: string | undefined): number | undefined {
  const s = text?.trim();
  if (!s || !/^(\d+(ms|s|m|h|d))+$/.test(s)) return undefined;
  let ms = 0;
  for (const m of s.matchAll(/(\d+)(ms|s|m|h|d)/g)) ms += Number(m[1]) * UNIT_MS[m[2]];
  return ms > 0 ? ms : undefined;
}

/** How long a closed incident's episode may go on firing before it counts as a recurrence. */
export function recurrenceGraceMs(annotations: Record<string, string> | undefined, policy: EpisodePolicy) {
  if (policy.graceMs !== undefined) return policy.graceMs;
  const forMs = parseDuration(annotations?.for);
  return forMs !== undefined ? 2 * forMs : policy.defaultGraceMs;
}

/** What a notification did: `recorded` = on the closed incident of its episode (its follow-up). */
export interface DeliveryResult {
  outcome: 'started' | 'joined' | 'recorded' | 'ignored';
  workflowId: string;
  reason: string;
  /** A recurrence: the incident ID of the closed incident it follows. */
  recurrenceOf?: string;
}

interface Closed {
  runId: string;
  memo?: IncidentMemo;
  closedAt: Date;
  completed: boolean;
}

type Situation = { kind: 'running' } | { kind: 'none' } | { kind: 'closed'; closed: Closed };

async function situation(client: Client, workflowId: string): Promise<Situation> {
  let d;
  try {
    d = await client.workflow.getHandle(workflowId).describe();
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return { kind: 'none' };
    throw err;
  }
  if (d.status.name === 'RUNNING') return { kind: 'running' };
  const memo = d.memo?.incident as IncidentMemo | undefined;
  return {
    kind: 'closed',
    closed: {
      runId: d.runId,
      memo: memo && typeof memo.incidentId === 'string' ? memo : undefined,
      closedAt: d.closeTime ?? new Date(),
      completed: d.status.name === 'COMPLETED',
    },
  };
}

/** Same episode: the same alert from the same start. Without both, nothing is the same episode. */
function sameEpisode(memo: IncidentMemo | undefined, event: AlertEvent): boolean {
  const e = memo?.episode;
  return Boolean(
    e?.fingerprint && e.startsAt && e.fingerprint === event.fingerprint && e.startsAt === event.startsAt,
  );
}

/** The event as one signal: a plain event for one alert, with `count` for several. */
function counted(event: AlertEvent, firing: number, resolved: number): AlertEvent {
  const { count: _count, ...plain } = event;
  return firing + resolved === 1 ? plain : { ...plain, count: { firing, resolved } };
}

const secs = (ms: number) => Math.round(ms / 1000);

/** An incident ID for a new incident that is never the closed one's (its follow-up's ID derives from it). */
function freshIncidentId(runbook: RunbookId, target: string, at: Date, closedId?: string): string {
  const id = newIncidentId(runbook, target, at);
  if (id !== closedId) return id;
  return newIncidentId(runbook, target, new Date(Math.max(Date.now(), at.getTime() + 1000)));
}

export interface DeliverOptions {
  client: Client;
  taskQueue: string;
  /** The latest event (for the signal) and, when there are firings, the alert to start with. */
  event: AlertEvent;
  alert?: Omit<MappedAlert, 'index'>;
  workflowId: string;
  /** How many firings and resolutions this delivery stands for (the direct path: one). */
  firing: number;
  resolved: number;
  policy?: EpisodePolicy;
}

/**
 * Starts, joins, records or ignores, as the header says. A start counts one firing (the workflow
 * counts its trigger); the rest goes in one signal. Exactly what it was given is counted once.
 */
export async function deliverAlert(opts: DeliverOptions): Promise<DeliveryResult> {
  const policy = opts.policy ?? DEFAULT_EPISODE_POLICY;
  for (let attempt = 1; ; attempt++) {
    const result = await deliverOnce(opts, policy, attempt);
    if (result) return result;
  }
}

/** One pass; undefined when the incident changed between looking and acting: look again. */
async function deliverOnce(
  opts: DeliverOptions,
  policy: EpisodePolicy,
  attempt: number,
): Promise<DeliveryResult | undefined> {
  const { client, workflowId, event } = opts;
  const now = new Date();
  // Most firings are the first of their runbook and target since the namespace's retention: start
  // at once, with a start that fails if any run of this ID exists, and only then look at that run
  // (running: join; closed: its episode decides). One call to Temporal instead of two on the path
  // that starts an incident; one more where a run exists (bench 1, README "Performance").
  if (attempt === 1 && opts.firing > 0 && opts.alert) {
    const started = await startNew(opts, opts.alert, { now, attempt, firstRunOnly: true });
    if (started) return started;
  }
  const s = await situation(client, workflowId);
  if (s.kind === 'running') return joinRunning(opts, attempt);
  const closed = s.kind === 'closed' ? s.closed : undefined;
  const grace = recurrenceGraceMs(opts.alert?.trigger.annotations, policy);
  const sinceClose = closed ? now.getTime() - closed.closedAt.getTime() : 0;
  const ofClosedEpisode = closed?.completed === true && sameEpisode(closed.memo, event);
  if (ofClosedEpisode && (opts.firing === 0 || sinceClose < grace)) {
    return recordAfterClose(client, workflowId, closed.memo!.incidentId, {
      event: counted(event, opts.firing, opts.resolved),
      sinceClose,
      grace,
      firing: opts.firing > 0,
    });
  }
  if (opts.firing === 0 || !opts.alert) {
    return {
      outcome: 'ignored',
      workflowId,
      reason:
        'resolved, and no incident is running for this runbook and target; a resolution never starts one',
    };
  }
  const recurrence: Recurrence | undefined = ofClosedEpisode
    ? {
        incidentId: closed.memo!.incidentId,
        workflowId,
        runId: closed.runId,
        closedAt: closed.closedAt.toISOString(),
        detectedAt: now.toISOString(),
        graceMs: grace,
      }
    : undefined;
  return startNew(opts, opts.alert, { now, recurrence, closed, attempt });
}

/** The firings and resolutions, as one signal to the running incident. */
async function joinRunning(opts: DeliverOptions, attempt: number): Promise<DeliveryResult | undefined> {
  const { client, workflowId, event } = opts;
  try {
    await client.workflow
      .getHandle(workflowId)
      .signal(alertSignal, counted(event, opts.firing, opts.resolved));
    return {
      outcome: 'joined',
      workflowId,
      reason:
        opts.firing > 0
          ? 'an incident is already running for this runbook and target; the firing was added to it'
          : 'resolution delivered to the running incident (information only)',
    };
  } catch (err) {
    // Closed between describe and signal: look again.
    if (!(err instanceof WorkflowNotFoundError) || attempt >= 3) throw err;
    return undefined;
  }
}

/** A new incident (a recurrence of the closed one when its episode fired past the grace). */
async function startNew(
  opts: DeliverOptions,
  a: Omit<MappedAlert, 'index'>,
  r: {
    now: Date;
    recurrence?: Recurrence;
    closed?: Closed;
    attempt: number;
    /** Only when no run of this ID exists; undefined (look at that run) when one does. */
    firstRunOnly?: boolean;
  },
): Promise<DeliveryResult | undefined> {
  const { client, workflowId, event } = opts;
  const { now, recurrence, closed } = r;
  const detectedAt = recurrence ? now : a.trigger.startsAt ? new Date(a.trigger.startsAt) : now;
  try {
    await startIncident({
      client,
      taskQueue: opts.taskQueue,
      runbook: a.runbook,
      target: a.target,
      trigger: recurrence ? { ...a.trigger, recurrence } : a.trigger,
      workflowId,
      extraInput: a.extraInput,
      policy: a.policy,
      conflictPolicy: 'FAIL',
      firstRunOnly: r.firstRunOnly,
      incidentId: freshIncidentId(a.runbook, a.target, detectedAt, closed?.memo?.incidentId),
    });
  } catch (err) {
    // A run of this ID exists, or another request started it first: look at it (the next pass).
    if (!(err instanceof WorkflowExecutionAlreadyStartedError) || (r.attempt >= 3 && !r.firstRunOnly))
      throw err;
    return undefined;
  }
  const rest = counted(event, opts.firing - 1, opts.resolved);
  if (opts.firing - 1 + opts.resolved > 0) {
    // Best effort: the start is what matters; the rest are counts for an incident that just began.
    await client.workflow
      .getHandle(workflowId)
      .signal(alertSignal, rest)
      .catch(() => undefined);
  }
  return {
    outcome: 'started',
    workflowId,
    recurrenceOf: recurrence?.incidentId,
    reason: recurrence
      ? `recurrence of ${recurrence.incidentId}: its alert still fires ${secs(Date.parse(recurrence.detectedAt) - Date.parse(recurrence.closedAt))} s after it was resolved (grace ${secs(recurrence.graceMs)} s)`
      : 'no incident was running for this runbook and target',
  };
}

async function recordAfterClose(
  client: Client,
  workflowId: string,
  incidentId: string,
  r: { event: AlertEvent; sinceClose: number; grace: number; firing: boolean },
): Promise<DeliveryResult> {
  const followUp = followUpWorkflowId(incidentId);
  const what = r.firing
    ? `still firing ${secs(r.sinceClose)} s after ${incidentId} was resolved (a recurrence starts if it still fires ${secs(r.grace)} s after)`
    : `resolved notification ${secs(r.sinceClose)} s after ${incidentId} was resolved`;
  try {
    await client.workflow.getHandle(followUp).signal(alertAfterCloseSignal, r.event);
  } catch (err) {
    if (!(err instanceof WorkflowNotFoundError)) throw err;
    return {
      outcome: 'ignored',
      workflowId,
      reason: `${what}; its follow-up ${followUp} is closed too, so nothing records it`,
    };
  }
  return { outcome: 'recorded', workflowId, reason: `${what}: recorded on its follow-up ${followUp}` };
}
