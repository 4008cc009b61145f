/**
 * A dry run's plan (workflows/dry-run.ts) in words: as a report section, as the lines the terminal
 * prints (`runbooks trigger --dry-run`, `runbooks rehearse`), and compared with what a real incident
 * did (`runbooks rehearse`). What a real incident did is read from its history: each mutating
 * activity (GUARDED_ACTIVITIES) that completed, and each page, in the order they were scheduled.
 */
import { GUARDED_ACTIVITIES, type GuardedActivity } from '../../definitions/target-guard';
import { ASSUMED_CHECK_KIND, type IncidentState, type PlannedAction } from '../../definitions/types';
import { cell } from './cells';
import { decodePayload } from './model';
import type { History } from './proto-json';

const summaryOf = (e: NonNullable<History['events']>[number]): string => {
  const s = decodePayload(e.userMetadata?.summary);
  return typeof s === 'string' ? s : '';
};

/** The report's section: the plan as a table, and where and why it ends. */
export function planSection(s: IncidentState | undefined): string[] {
  if (!s?.dryRun) return [];
  const plan = s.dryRun.plan;
  const out = ['## Dry run: the plan', '', '> A rehearsal: nothing below was done.', ''];
  if (plan.length) {
    out.push('| # | action | inputs | target guard |', '|---|---|---|---|');
    for (const a of plan)
      out.push(`| ${a.n} | ${cell(`${a.kind}: ${a.action}`)} | ${cell(a.inputs)} | ${cell(guardWords(a))} |`);
  } else out.push('No action: the real run would act on nothing.');
  if (s.dryRun.end) out.push('', `Plan ends: ${cell(s.dryRun.end)}`);
  if (s.dryRun.rehearsalOf) out.push('', `Rehearses incident workflow \`${cell(s.dryRun.rehearsalOf)}\`.`);
  out.push('');
  return out;
}

const guardWords = (a: PlannedAction) =>
  a.guard
    ? `${a.guard.wouldGrant ? 'would grant' : 'would refuse'}: ${a.guard.reason}`
    : a.kind === ASSUMED_CHECK_KIND
      ? 'no guard (a check, not read: its success is assumed)'
      : 'no guard (not a target action)';

/** "3 planned actions, 2 checks assumed": the checks are reads the plan assumed (dry-run.ts). */
function plannedCount(plan: PlannedAction[]): string {
  const checks = plan.filter((a) => a.kind === ASSUMED_CHECK_KIND).length;
  const actions = plan.length - checks;
  return `${actions} planned action${actions === 1 ? '' : 's'}${checks ? `, ${checks} check${checks === 1 ? '' : 's'} assumed` : ''}`;
}

/** The plan as the terminal prints it. */
export function planLines(workflowId: string, s: IncidentState): string[] {
  const plan = s.dryRun?.plan ?? [];
  const lines = [
    `DRY RUN ${workflowId}: ${s.title} (incident ${s.incidentId}); nothing was done`,
    `Status ${s.status}; ${plannedCount(plan)}:`,
  ];
  for (const a of plan) {
    lines.push(`  ${String(a.n).padStart(2)}. would ${a.kind.padEnd(12)} ${a.action}`);
    if (a.kind !== ASSUMED_CHECK_KIND) lines.push(`      guard: ${guardWords(a)}`);
    const inputs = Object.entries(a.inputs)
      .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
      .join(' ');
    if (inputs) lines.push(`      inputs: ${inputs.slice(0, 300)}`);
  }
  if (s.dryRun?.end) lines.push(`Plan ends: ${s.dryRun.end}`);
  const approvals = (s.approvals ?? []).filter((g) => g.codes.length);
  for (const g of approvals)
    lines.push(
      `Approval ${g.gate}: real codes sent (marked as a rehearsal) to ${g.codes.map((c) => c.approver).join(', ')}`,
    );
  return lines;
}

/** One action a real incident took: its kind (restart, page, ...) and what the history calls it. */
export interface DoneAction {
  kind: string;
  action: string;
}

/**
 * The actions a real incident took, from its history: every completed mutating activity and every
 * page activity scheduled, in order. (A refused action ran no activity: it is not an action.)
 */
export function actionsOfHistory(history: History): DoneAction[] {
  const events = history.events ?? [];
  const completed = new Set(
    events.flatMap((e) =>
      e.activityTaskCompletedEventAttributes
        ? [String(e.activityTaskCompletedEventAttributes.scheduledEventId)]
        : [],
    ),
  );
  const out: DoneAction[] = [];
  for (const e of events) {
    const name = e.activityTaskScheduledEventAttributes?.activityType?.name;
    if (!name) continue;
    if (name === 'page') out.push({ kind: 'page', action: summaryOf(e) || 'page' });
    else if (name === 'notifyRoles' && /^Notify /.test(summaryOf(e)))
      out.push({ kind: 'notify', action: summaryOf(e) });
    else if (Object.hasOwn(GUARDED_ACTIVITIES, name) && completed.has(String(e.eventId)))
      out.push({ kind: GUARDED_ACTIVITIES[name as GuardedActivity], action: summaryOf(e) || name });
  }
  return out;
}

/**
 * The plan's actions the real run would take (the guard would grant them; pages; notices); not the
 * assumed checks (`verify`), which are reads, nor holds, which run no activity.
 */
export const plannedKinds = (s: IncidentState): DoneAction[] =>
  (s.dryRun?.plan ?? [])
    .filter((a) =>
      a.guard === undefined
        ? a.kind !== ASSUMED_CHECK_KIND
        : a.guard.wouldGrant && a.kind !== 'hold' && a.kind !== 'release-hold',
    )
    .map((a) => ({ kind: a.kind, action: a.action }));

/**
 * Where today's plan differs from what was done then: the plan follows the success path to its end,
 * so each of its actions is compared with the one done at the same place.
 */
export function planDiff(plan: DoneAction[], done: DoneAction[]): string[] {
  const diffs: string[] = [];
  for (let i = 0; i < Math.max(plan.length, done.length); i++) {
    const p = plan[i];
    const d = done[i];
    if (p && d && p.kind === d.kind) continue;
    if (p && d)
      diffs.push(`${i + 1}: today would ${p.kind} (${p.action}); then it did ${d.kind} (${d.action})`);
    else if (p) diffs.push(`${i + 1}: today would ${p.kind} (${p.action}); then nothing more was done`);
    else if (d && i === plan.length)
      diffs.push(
        `${i + 1}+: then it went on to ${done
          .slice(i)
          .map((x) => x.kind)
          .join(', ')}; today's plan ends before (see "Plan ends")`,
      );
  }
  return diffs;
}
