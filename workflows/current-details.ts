/**
 * The Markdown the Temporal UI shows as the incident's current details: where it is, what it saw,
 * when it escalates next, the steps so far as a compact timeline, and, while it waits for a person,
 * exactly what to paste into "Send a Signal".
 */
import { safeLink } from '../definitions/links';
import { ASSUMED_CHECK_KIND, type IncidentState, type StepRecord } from '../definitions/types';

/**
 * The details panel is read at a glance, and the whole text is re-sent on every `__temporal_workflow_metadata`
 * query: the timeline keeps the latest steps only, and the details stay within this many characters.
 */
export const TIMELINE_MAX_STEPS = 12;
export const CURRENT_DETAILS_MAX_CHARS = 4000;
const STEP_TITLE_MAX = 60;

const ICON: Record<StepRecord['status'], string> = { done: '✓', failed: '✗', running: '▶', skipped: '–' };

/** `+0:03`, `+1:02:03`: time since detection. */
function sinceDetection(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  const pad = (n: number) => String(n).padStart(2, '0');
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h ? `+${h}:${pad(m)}:${pad(s % 60)}` : `+${m}:${pad(s % 60)}`;
}

function took(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;
}

/** `06:01:02 +0:03 ✓ 3. Restart (2.1 s)`, one line per step, the latest TIMELINE_MAX_STEPS of them. */
export function stepTimeline(s: IncidentState): string[] {
  const detected = Date.parse(s.mttr.detectedAt);
  const shown = s.steps.slice(-TIMELINE_MAX_STEPS);
  const earlier = s.steps.length - shown.length;
  const lines = shown.map((st) => {
    const start = Date.parse(st.startedAt);
    const title = st.title.length > STEP_TITLE_MAX ? `${st.title.slice(0, STEP_TITLE_MAX - 1)}…` : st.title;
    const length =
      st.status === 'running'
        ? 'running'
        : st.finishedAt && st.status !== 'skipped'
          ? took(Date.parse(st.finishedAt) - start)
          : st.status;
    return `${st.startedAt.slice(11, 19)} ${sinceDetection(start - detected)} ${ICON[st.status]} ${title} (${length})`;
  });
  return earlier ? [`… ${earlier} earlier step${earlier === 1 ? '' : 's'}`, ...lines] : lines;
}

const short = (v: unknown): string => {
  if (v && typeof v === 'object') {
    const o = v as {
      healthy?: boolean;
      status?: number | string | null;
      reason?: string;
      value?: unknown;
      summary?: unknown;
      running?: boolean;
    };
    if (typeof o.summary === 'string') return o.summary;
    if (typeof o.running === 'boolean') return `${String(o.status ?? (o.running ? 'running' : 'stopped'))}`;
    if (typeof o.healthy === 'boolean') {
      return o.healthy
        ? `healthy (${o.status ?? ''})`
        : `unhealthy (${o.status ?? 'no answer'}${o.reason ? `: ${o.reason}` : ''})`;
    }
    if (typeof o.value === 'number' || typeof o.value === 'string') return String(o.value);
    return JSON.stringify(v).slice(0, 120);
  }
  return typeof v === 'string' ? v : JSON.stringify(v);
};

/**
 * Where the alert came from (links a person opens; only http(s) URLs are shown, as Markdown
 * autolinks) and alerts Alertmanager left out of a notification: never silent.
 */
function alertLines(s: IncidentState): string[] {
  const t = s.trigger;
  const links = [
    safeLink(t.generatorURL) && `[rule in Prometheus](<${t.generatorURL}>)`,
    safeLink(t.externalURL) && `[Alertmanager](<${t.externalURL}>)`,
  ].filter(Boolean);
  const out = links.length ? [`**Alert links** ${links.join(' · ')}`] : [];
  const tr = s.alerts.truncated;
  if (tr) {
    out.push(
      `**Alerts left out by Alertmanager** ${Number(tr.latestAlerts)} in the latest of ${Number(tr.notifications)} truncated notification(s) (max_alerts): their targets may have no incident; see Alertmanager`,
    );
  }
  return out;
}

/** A dry run's plan so far: numbered "would ..." lines with the guard's answer (dry-run.ts). */
function planLines(s: IncidentState): string[] {
  if (!s.dryRun) return [];
  const out = ['', '**DRY RUN (rehearsal): nothing is done.** The plan:'];
  for (const a of s.dryRun.plan.slice(-TIMELINE_MAX_STEPS)) {
    const guard = a.guard ? ` — guard ${a.guard.wouldGrant ? 'would grant' : 'would refuse'}` : '';
    const assumed = a.kind === ASSUMED_CHECK_KIND ? ` (assumed: ${String(a.inputs.assumed)})` : '';
    out.push(`${a.n}. would ${a.kind}: ${a.action.slice(0, 120)}${guard}${assumed}`);
  }
  if (s.dryRun.end) out.push(`**Plan ends**: ${s.dryRun.end.slice(0, 300)}`);
  return out;
}

export function renderCurrentDetails(s: IncidentState, escalationDueAt?: string): string {
  const lines = [
    `**Status** ${s.status} · **Step** ${s.currentStep}`,
    `**MTTR** target ${Math.round(s.mttr.targetMs / 60_000)} min from ${s.mttr.detectedAt}${s.mttr.breached ? ' — **BREACHED**' : ''}`,
  ];
  lines.push(...alertLines(s));
  if (escalationDueAt && s.status !== 'resolved' && s.status !== 'abandoned')
    lines.push(`**Next escalation** ${escalationDueAt}`);
  if (s.escalations.length) {
    const last = s.escalations[s.escalations.length - 1];
    const failed = last.failed?.length
      ? ` — **not delivered via** ${last.failed.map((f) => f.channel).join(', ')}`
      : '';
    lines.push(`**Escalated** ${s.escalations.length}× (last ${last.at} to ${last.tier})${failed}`);
  }
  if (s.steps.length)
    lines.push('', '**Steps so far** (UTC, time since detection)', '```', ...stepTimeline(s), '```');
  const checks = Object.entries(s.checks).filter(([k]) => k !== 'logs');
  if (checks.length) {
    lines.push(
      '',
      '| check | last value |',
      '|---|---|',
      ...checks.map(([k, v]) => `| ${k} | ${short(v).replace(/\|/g, '/')} |`),
    );
  }
  const failing = Object.entries(s.failing);
  if (failing.length) lines.push('', '**Failing checks**', ...failing.map(([k, v]) => `- ${k}: ${v}`));

  // What a person must do, the plan of a dry run, and how it ended: never cut.
  const tail: string[] = [...planLines(s)];
  if (s.waitingFor) {
    tail.push(
      '',
      `### Waiting for: ${s.waitingFor.what}`,
      `Send a Signal named \`${s.waitingFor.signal}\` with this JSON (fill in your code and reason):`,
      '```json',
      JSON.stringify(s.waitingFor.example, null, 2),
      '```',
    );
  }
  if (s.outcome) tail.push('', `**Outcome** ${s.outcome.slice(0, 500)}`);
  return fit(lines, tail);
}

/** Head and tail within CURRENT_DETAILS_MAX_CHARS: whole lines off the head's end (a code block stays closed). */
function fit(head: string[], tail: string[]): string {
  const size = (l: string[]) => l.join('\n').length;
  if (size(head) + size(tail) + 1 <= CURRENT_DETAILS_MAX_CHARS) return [...head, ...tail].join('\n');
  const note = ['', '_… cut to fit the details panel_'];
  const budget = CURRENT_DETAILS_MAX_CHARS - size(tail) - size(note) - 8;
  const kept = [...head];
  while (kept.length > 1 && size(kept) > budget) kept.pop();
  if (kept.filter((l) => l.startsWith('```')).length % 2) kept.push('```');
  return [...kept, ...note, ...tail].join('\n');
}
