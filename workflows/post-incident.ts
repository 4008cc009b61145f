/**
 * POST-INCIDENT (seed): all P0/P1 incidents require
 *   1. Incident report within 24 hours
 *   2. Post-mortem within 48 hours
 *   3. Runbook update if needed (decided, and the change linked when needed, with the post-mortem:
 *      48 h by default)
 *
 * Started by the incident as a child workflow that outlives it (parentClosePolicy ABANDON) when the
 * incident resolves or a person closes it. It drafts the incident report at once and sends it to the
 * owners, then waits for each of the three duties: a reminder before its deadline, a page to the
 * escalation tier when it is missed, and it keeps waiting. It closes when all three duties are done.
 *
 * Signals: `reportFiled` / `postMortemFiled` {link, author, note?};
 *          `runbookUpdate` {needed, note, by, link?} (needed without a link keeps the duty open).
 * Query:   `followUpState`.
 * Search attributes: FollowUpDuties (open duties), FollowUpOverdue, IncidentStatus = 'follow-up'.
 */
import {
  condition,
  proxyActivities,
  setHandler,
  setWorkflowOptions,
  upsertSearchAttributes,
} from '@temporalio/workflow';
import { autoUpgradeWhenVersioned } from './versioning';
import { notifications } from './activity-proxies';
import {
  alertAfterCloseSignal,
  followUpStateQuery,
  followUpWorkflowId,
  postMortemFiledSignal,
  reportFiledSignal,
  runbookUpdateSignal,
} from '../definitions/messages';
import { failureText, withSummary } from './incident';
import { alertEventProblem } from './alert-events';
import { incidentMetrics, type IncidentLabels } from './metrics';
import { withDefaults } from '../definitions/policies/gate-policy';
import { postIncidentDefaults } from '../definitions/policies/post-incident';
import {
  FollowUpDutiesKey,
  FollowUpOverdueKey,
  IncidentStatusKey,
  RunbookIdKey,
  SeverityKey,
  TargetServiceKey,
} from './search-attributes';
import type {
  AlertEvent,
  DutyFiled,
  DutyState,
  FollowUpDuty,
  FollowUpState,
  PostIncidentInput,
  PostIncidentPolicy,
  RunbookUpdateDecision,
} from '../definitions/types';
import type { Activities } from '../activities';

export const DUTY_TITLES: Record<FollowUpDuty, string> = {
  'incident-report': 'Incident report',
  'post-mortem': 'Post-mortem',
  'runbook-update': 'Runbook update decision',
};

/** Drafting reads the incident's history through the Temporal client: allow for a slow server. */
const reports = proxyActivities<Activities>({
  startToCloseTimeout: '2 minutes',
  retry: { initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '30s', maximumAttempts: 5 },
});

const now = () => new Date().toISOString();
const text = (v: unknown, max: number): string | undefined =>
  typeof v === 'string' && v.trim() ? v.trim().slice(0, max) : undefined;

/** What every step of the follow-up works on. */
interface FollowUp {
  input: PostIncidentInput;
  policy: PostIncidentPolicy;
  inc: PostIncidentInput['incident'];
  state: FollowUpState;
  resolvedMs: number;
  labels: IncidentLabels;
}

export async function postIncident(input: PostIncidentInput): Promise<FollowUpState> {
  const policy = withDefaults(postIncidentDefaults, input.policy);
  const inc = input.incident;
  const resolvedAt = inc.mttr.resolvedAt ?? now();
  const f: FollowUp = {
    input,
    policy,
    inc,
    state: initialState(input, policy, resolvedAt),
    resolvedMs: Date.parse(resolvedAt),
    labels: { runbook: inc.runbook, severity: inc.severity },
  };
  const { state } = f;
  setHandler(reportFiledSignal, fileDocument(f, 'incident-report', 'reportFiled'), {
    description: 'The incident report is filed: {"link": "https://…", "author": "name", "note": "optional"}',
  });
  setHandler(postMortemFiledSignal, fileDocument(f, 'post-mortem', 'postMortemFiled'), {
    description: 'The post-mortem is filed: {"link": "https://…", "author": "name", "note": "optional"}',
  });
  setHandler(runbookUpdateSignal, (decision: RunbookUpdateDecision) => decideRunbookUpdate(f, decision), {
    description:
      'Does the runbook need a change? {"needed": false, "note": "why", "by": "name"}; when needed, add "link" to the change (the duty stays open until it is linked)',
  });
  // The incident's alert after the incident closed. The intake sends it here because a closed
  // workflow takes no signals and this one outlives the incident by at least the report's deadline
  // (24 h): durable, in the incident's own trail (UI, CLI, report), with no store of the intake's.
  // Information only: it never reopens anything (a recurrence is a new incident, started by the intake).
  setHandler(alertAfterCloseSignal, (event: AlertEvent) => recordAlertAfterClose(f, event), {
    description:
      "The incident's alert after the incident closed (repeats, its resolution): recorded, information only",
  });
  setHandler(followUpStateQuery, () => state, {
    description: 'Post-incident duties: report, post-mortem, runbook update; reminders and escalations',
  });
  upsertSearchAttributes([
    { key: RunbookIdKey, value: inc.runbook },
    { key: SeverityKey, value: inc.severity },
    { key: TargetServiceKey, value: inc.target },
  ]);
  publish(state);

  // Owners: the incident's own, else the follow-up policy's, else the worker's INCIDENT_OWNERS.
  if (!input.owners?.length && !input.policy?.owners?.length) await lookUpOwners(f);

  // 1. Incident report: drafted at once and sent to the owners.
  const instructions = dutyInstructions(f);
  await sendDraftReport(f, instructions);
  state.status = 'open';

  // 1-3: a reminder before each deadline, an escalation at it; then it keeps waiting until done.
  await Promise.all([
    watchDeadline(f, state.duties['incident-report'], policy.reportReminderBeforeMs, instructions),
    watchDeadline(f, state.duties['post-mortem'], policy.postMortemReminderBeforeMs, instructions),
    watchDeadline(f, state.duties['runbook-update'], policy.runbookUpdateReminderBeforeMs, instructions),
    condition(() => open(state).length === 0),
  ]);
  state.status = 'closed';
  state.closedAt = now();
  publish(state);
  return state;
}
// Worker Versioning (issue 22): AUTO_UPGRADE, not pinned like the incident it follows. A follow-up
// waits days for its duties (reminders, pages when overdue); pinned, it would keep every old build's
// worker running until the last duty is filed. It moves to the current build on its next task, so
// the release replay gate replays its open histories, and a change of its commands goes behind
// patched() (docs/runbook-changes.md).
setWorkflowOptions(autoUpgradeWhenVersioned, postIncident);

/** The follow-up's state at the start: three open duties, due counted from the resolution. */
function initialState(
  input: PostIncidentInput,
  policy: PostIncidentPolicy,
  resolvedAt: string,
): FollowUpState {
  const inc = input.incident;
  const resolvedMs = Date.parse(resolvedAt);
  const duty = (name: FollowUpDuty, dueMs?: number): DutyState => ({
    duty: name,
    status: 'open',
    overdue: false,
    dueAt: dueMs === undefined ? undefined : new Date(resolvedMs + dueMs).toISOString(),
  });
  return {
    incidentId: inc.incidentId,
    incidentWorkflowId: input.incidentWorkflowId,
    runbook: inc.runbook,
    severity: inc.severity,
    title: inc.title,
    target: inc.target,
    incidentStatus: inc.status,
    resolvedAt,
    status: 'drafting',
    owners: input.owners?.length ? input.owners : policy.owners,
    duties: {
      'incident-report': duty('incident-report', policy.reportDueMs),
      'post-mortem': duty('post-mortem', policy.postMortemDueMs),
      'runbook-update': duty('runbook-update', policy.runbookUpdateDueMs),
    },
    reminders: [],
    escalations: [],
    refused: [],
  };
}

const open = (state: FollowUpState) =>
  Object.values<DutyState>(state.duties).filter((d) => d.status === 'open');

/** The open duties and whether one is overdue, as search attributes. */
const publish = (state: FollowUpState) =>
  upsertSearchAttributes([
    { key: FollowUpDutiesKey, value: open(state).map((d) => d.duty) },
    { key: FollowUpOverdueKey, value: open(state).some((d) => d.overdue) },
    { key: IncidentStatusKey, value: open(state).length ? 'follow-up' : 'follow-up-done' },
  ]);

/** A signal that could not be taken (or a step that failed), recorded in the state. */
const refuse = (state: FollowUpState, signal: string, reason: string): void => {
  state.refused.push({ at: now(), signal, reason: reason.slice(0, 300) });
};

function complete(f: FollowUp, d: DutyState): void {
  d.status = 'done';
  d.doneAt = now();
  incidentMetrics.followUpDuty({ ...f.labels, duty: d.duty, event: 'done', ms: Date.now() - f.resolvedMs });
  publish(f.state);
}

/** 1. and 2.: the handler of `reportFiled` / `postMortemFiled`. */
const fileDocument = (f: FollowUp, name: FollowUpDuty, signal: string) => (filed: DutyFiled) => {
  const d = f.state.duties[name];
  const link = text(filed?.link, 500);
  const author = text(filed?.author, 100);
  if (!link || !author)
    return refuse(f.state, signal, 'needs "link" and "author", e.g. {"link": "https://…", "author": "name"}');
  if (d.status === 'done')
    return refuse(f.state, signal, `already filed at ${d.doneAt} by ${d.by}: ${d.link}`);
  Object.assign(d, { link, by: author, note: text(filed.note, 1000) });
  complete(f, d);
};

/** 3. The handler of `runbookUpdate`. */
function decideRunbookUpdate(f: FollowUp, decision: RunbookUpdateDecision): void {
  const d = f.state.duties['runbook-update'];
  const by = text(decision?.by, 100);
  const note = text(decision?.note, 1000);
  if (typeof decision?.needed !== 'boolean' || !by || !note)
    return refuse(f.state, 'runbookUpdate', 'needs "needed" (true/false), "note" and "by"');
  if (d.status === 'done')
    return refuse(f.state, 'runbookUpdate', `already recorded at ${d.doneAt} by ${d.by}`);
  Object.assign(d, { needed: decision.needed, by, note, link: text(decision.link, 500) ?? d.link });
  // "Runbook update if needed": a yes stays open until the change itself is linked.
  if (!decision.needed || d.link) complete(f, d);
}

/** The handler of `alertAfterClose`: counts and the latest status, information only. */
function recordAlertAfterClose(f: FollowUp, event: AlertEvent): void {
  const { state } = f;
  const problem = alertEventProblem(event);
  if (problem) return refuse(state, 'alertAfterClose', problem);
  const at = typeof event.receivedAt === 'string' ? event.receivedAt : now();
  const afterMs = Math.max(0, Date.parse(at) - f.resolvedMs);
  const a = (state.alertAfterClose ??= {
    firing: 0,
    resolved: 0,
    lastStatus: event.status,
    lastAt: at,
    note: '',
  });
  const firing = event.count?.firing ?? (event.status === 'firing' ? 1 : 0);
  const resolved = event.count?.resolved ?? (event.status === 'resolved' ? 1 : 0);
  a.firing += firing;
  a.resolved += resolved;
  a.lastStatus = event.status;
  a.lastAt = at;
  const s = Math.round(afterMs / 1000);
  if (event.status === 'resolved') {
    a.resolvedNotificationAt ??= at;
    a.note = `resolved notification ${s} s after resolution`;
  } else {
    a.stillFiringAfterMs = Math.max(a.stillFiringAfterMs ?? 0, afterMs);
    a.note = `still firing ${s} s after resolution`;
  }
}

/** The worker's INCIDENT_OWNERS (an activity: workflows cannot read config); kept on failure. */
async function lookUpOwners(f: FollowUp): Promise<void> {
  try {
    const configured = await withSummary(reports.incidentOwners, 'Look up the configured incident owners');
    if (configured.length) f.state.owners = configured;
  } catch (err) {
    refuse(
      f.state,
      'incidentOwners',
      `could not read INCIDENT_OWNERS, kept ${f.state.owners.join(', ')}: ${failureText(err)}`,
    );
  }
}

/** How to close each duty, appended to the draft and to every reminder. */
const dutyInstructions = ({ inc, state }: FollowUp) =>
  [
    '',
    '---',
    `Follow-up workflow: ${followUpWorkflowId(inc.incidentId)}`,
    `Incident report due ${state.duties['incident-report'].dueAt}: signal "reportFiled" {"link": "…", "author": "…"}`,
    `Post-mortem due ${state.duties['post-mortem'].dueAt}: signal "postMortemFiled" {"link": "…", "author": "…"}`,
    `Runbook update decision due ${state.duties['runbook-update'].dueAt}: signal "runbookUpdate" {"needed": true|false, "note": "…", "by": "…", "link": "… (when needed)"}`,
  ].join('\n');

/** Drafts the incident report (from the incident's history, else its state) and mails it to the owners. */
async function sendDraftReport(f: FollowUp, instructions: string): Promise<void> {
  const { inc, state } = f;
  let draft: { markdown: string; source: 'history' | 'state' } | undefined;
  try {
    draft = await withSummary(
      reports.draftIncidentReport,
      `Draft the incident report for ${inc.incidentId}`,
      {
        workflowId: f.input.incidentWorkflowId,
        runId: f.input.incidentRunId,
        state: inc,
      },
    );
  } catch (err) {
    refuse(state, 'draftIncidentReport', `could not draft the report: ${failureText(err)}`);
  }
  try {
    const delivery = await withSummary(
      notifications.sendEmail,
      `Send the draft incident report to the owners`,
      {
        to: state.owners,
        subject: `[${inc.severity} ${inc.runbook}] Incident report draft: ${inc.title}`,
        text: `${draft?.markdown ?? `# ${inc.title}\n\nOutcome: ${inc.outcome ?? inc.status}`}\n${instructions}`,
        messageId: `${inc.incidentId}/report-draft`,
      },
    );
    state.draft = {
      sentAt: now(),
      source: draft?.source ?? 'state',
      delivered: delivery.delivered,
      failed: delivery.failed.map((x) => x.channel),
    };
  } catch (err) {
    state.draft = {
      sentAt: now(),
      source: draft?.source ?? 'state',
      delivered: [],
      failed: [failureText(err)],
    };
  }
}

/** A reminder to the owners before a duty is due; a failed delivery is recorded, not retried. */
async function remind(f: FollowUp, d: DutyState, instructions: string): Promise<void> {
  const { inc, state } = f;
  try {
    const delivery = await withSummary(
      notifications.sendEmail,
      `Remind the owners: ${DUTY_TITLES[d.duty]} due ${d.dueAt}`,
      {
        to: state.owners,
        subject: `Reminder: ${DUTY_TITLES[d.duty].toLowerCase()} for ${inc.title} is due ${d.dueAt}`,
        text: `${DUTY_TITLES[d.duty]} for incident ${inc.incidentId} (${inc.title}) is due ${d.dueAt}.${instructions}`,
        messageId: `${inc.incidentId}/reminder-${d.duty}`,
      },
    );
    state.reminders.push({ at: now(), duty: d.duty, delivered: delivery.delivered });
  } catch (err) {
    state.reminders.push({ at: now(), duty: d.duty, delivered: [] });
    refuse(state, 'reminder', `reminder for ${d.duty} not delivered: ${failureText(err)}`);
  }
  d.remindedAt = now();
}

/** A missed deadline: marked overdue and paged to the policy's escalation tier. */
async function escalateOverdue(f: FollowUp, d: DutyState): Promise<void> {
  const { inc, state, policy } = f;
  d.overdue = true;
  publish(state);
  incidentMetrics.followUpDuty({
    ...f.labels,
    duty: d.duty,
    event: 'overdue',
    ms: Date.now() - f.resolvedMs,
  });
  const reason =
    d.duty === 'runbook-update' && d.needed
      ? `Runbook update for ${inc.incidentId} decided as needed, but no change linked by ${d.dueAt}`
      : `${DUTY_TITLES[d.duty]} for ${inc.incidentId} not ${d.duty === 'runbook-update' ? 'recorded' : 'filed'} by ${d.dueAt}`;
  try {
    const delivery = await withSummary(notifications.page, `Page ${policy.escalationTier}: ${reason}`, {
      incidentId: inc.incidentId,
      runbook: inc.runbook,
      severity: inc.severity,
      tier: policy.escalationTier,
      summary: `${inc.title}: ${reason}`,
      details: { followUp: followUpWorkflowId(inc.incidentId), owners: state.owners },
      dedupKey: `${inc.incidentId}/follow-up-${d.duty}-overdue`,
    });
    state.escalations.push({ at: now(), tier: policy.escalationTier, reason, ...delivery });
  } catch (err) {
    state.escalations.push({
      at: now(),
      tier: policy.escalationTier,
      reason,
      delivered: [],
      failed: [{ channel: 'all', error: failureText(err) }],
    });
  }
  d.escalatedAt = now();
}

/** A reminder before the deadline, an escalation at it; then it keeps waiting (the caller). */
async function watchDeadline(
  f: FollowUp,
  d: DutyState,
  reminderBeforeMs: number,
  instructions: string,
): Promise<void> {
  const dueMs = Date.parse(d.dueAt!);
  const done = () => d.status === 'done';
  const untilReminder = dueMs - reminderBeforeMs - Date.now();
  if (reminderBeforeMs > 0 && untilReminder > 0) {
    if (await condition(done, untilReminder, { summary: `Remind before ${DUTY_TITLES[d.duty]} is due` }))
      return;
    await remind(f, d, instructions);
  }
  const untilDue = dueMs - Date.now();
  if (untilDue > 0 && (await condition(done, untilDue, { summary: `${DUTY_TITLES[d.duty]} due ${d.dueAt}` })))
    return;
  if (!done()) await escalateOverdue(f, d);
}
