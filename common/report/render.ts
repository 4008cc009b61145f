/**
 * The incident report as Markdown: summary, trigger and alert values, time-to-resolve against the
 * target (incident-sections.ts), the timeline as a Mermaid gantt chart (mermaid.ts) and as a table
 * of every step (activity scheduled / completed / failed with its key result), escalations,
 * approval attempts (who, decision, accepted or refused and why; never the code), evidence files
 * and the follow-up. Every value has been sanitized by the model already.
 */
import { planSection } from './plan';
import { chartOf } from './chart';
import { escalationsOf } from './facts';
import { renderMermaidGantt } from './mermaid';
import type { ActivityRow, ReportModel } from './model';
import { REDACTED, sanitizeText } from './sanitize';
import { chargesSection } from './charges';
import { cell, time } from './cells';
import {
  factsOf,
  summarySection,
  timeToResolveSection,
  triggerSection,
  type Facts,
} from './incident-sections';

/** Any value as display text (objects as JSON, never "[object Object]"). */
const str = (v: unknown, fallback = ''): string =>
  v === undefined || v === null
    ? fallback
    : typeof v === 'string'
      ? v
      : typeof v === 'number' || typeof v === 'boolean'
        ? String(v)
        : JSON.stringify(v);

const obj = (v: unknown): Record<string, unknown> | undefined =>
  v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;

/** One line that says what an activity found or did. */
export function keyResult(row: ActivityRow): string {
  if (row.outcome === 'failed' || row.outcome === 'timed-out') return `${row.outcome}: ${row.error ?? ''}`;
  if (row.outcome !== 'completed') return `${row.outcome}${row.error ? ` (last error: ${row.error})` : ''}`;
  const r = obj(row.result);
  if (!r) return row.result === undefined ? 'done' : cell(row.result);
  if (typeof r.healthy === 'boolean') {
    const base = r.healthy
      ? `healthy: ${str(r.status, '200')} in ${str(r.latencyMs, '?')} ms`
      : `unhealthy: ${str(r.status, 'no answer')}${r.reason ? ` (${str(r.reason)})` : ''}`;
    return typeof r.attempts === 'number' ? `${base} after ${r.attempts} checks` : base;
  }
  if (Array.isArray(r.lines)) {
    const st = obj(r.state);
    return `${r.lines.length} log lines${typeof r.errorLines === 'number' ? `, ${r.errorLines} with errors` : ''}${st ? `; container ${String(st.status)}, exit code ${String(st.exitCode)}` : ''}`;
  }
  if (Array.isArray(r.delivered)) {
    const failed = Array.isArray(r.failed) ? (r.failed as { channel?: string }[]).map((f) => f.channel) : [];
    return `delivered: ${(r.delivered as string[]).join(', ') || 'none'}${failed.length ? `; failed: ${failed.join(', ')}` : ''}`;
  }
  if (typeof r.alreadyDone === 'boolean') {
    const st = obj(r.state);
    return `${r.alreadyDone ? 'already done by an earlier attempt' : 'done'}${st ? `; container ${String(st.status)}` : ''}`;
  }
  if (typeof r.markdown === 'string')
    return `drafted from ${str(r.source, '?')} (${r.markdown.length} chars)`;
  const scalars = Object.entries(r)
    .filter(([, v]) => v === null || ['string', 'number', 'boolean'].includes(typeof v) || Array.isArray(v))
    .slice(0, 6)
    .map(([k, v]) => `${k}=${Array.isArray(v) ? `[${v.length}]` : String(v)}`);
  return scalars.join(', ') || 'done';
}

interface ApprovalRow {
  at: string;
  gate: string;
  approver: string;
  decision: string;
  result: string;
  why: string;
}

const APPROVAL_NAME = /approv|reject|decision/i;

/**
 * Approval attempts: the state's gate records (workflows/approval.ts: `approvals[].attempts[]`, every
 * attempt with its verdict) when present, else the approval signals and updates in the history.
 * The code is never part of a row.
 */
function approvalsOf(m: ReportModel): ApprovalRow[] {
  const gates = (obj(m.state) ?? {}).approvals;
  if (Array.isArray(gates)) {
    const rows = gates.flatMap((g) => {
      const gate = obj(g) ?? {};
      const attempts = Array.isArray(gate.attempts) ? gate.attempts : [];
      return attempts.map(obj).map((a) => ({
        at: str(a?.at),
        gate: str(gate.gate ?? gate.what),
        approver: str(a?.approver, '?'),
        decision: `${str(a?.decision, '?')}${a?.via ? ` (via ${str(a.via)})` : ''}`,
        result: a?.accepted === true ? 'accepted' : a?.accepted === false ? 'refused' : '?',
        why: [a?.accepted === false ? a?.refusedBecause : undefined, a?.reason]
          .filter((v) => typeof v === 'string' && v)
          .map((v) => str(v))
          .join(' — reason given: '),
      }));
    });
    if (rows.length) return rows;
  }
  return m.signals
    .filter((sig) => APPROVAL_NAME.test(sig.name))
    .map((sig) => {
      const p = obj(sig.payload) ?? {};
      const rejected = sig.outcome?.startsWith('rejected');
      return {
        at: sig.at,
        gate: '',
        approver: str(p.approver ?? p.by ?? sig.identity, '?'),
        decision: `${str(p.decision ?? sig.name)} (${sig.kind} \`${sig.name}\`)`,
        result: rejected ? 'refused' : 'see state',
        why: [rejected ? sig.outcome : undefined, p.reason]
          .filter(Boolean)
          .map((v) => str(v))
          .join('; '),
      };
    });
}

/** Evidence files: any path an activity reported writing (pg_dump, refund documents, reports). */
function evidenceOf(m: ReportModel): string[] {
  const found = new Set<string>();
  const visit = (v: unknown, key = '', depth = 0) => {
    if (depth > 6) return;
    if (typeof v === 'string') {
      if (/(path|file|dump|evidence|document)s?$/i.test(key) && /[/\\]/.test(v) && v.length < 500)
        found.add(v);
    } else if (Array.isArray(v)) v.forEach((x) => visit(x, key, depth + 1));
    else if (v && typeof v === 'object')
      Object.entries(v as Record<string, unknown>).forEach(([k, x]) => visit(x, k, depth + 1));
  };
  m.activities.filter((a) => a.outcome === 'completed').forEach((a) => visit(a.result));
  const st = obj(m.state);
  if (st) visit(st.evidence, 'evidence');
  if (st) visit(obj(st.checks)?.evidence, 'evidence');
  return [...found];
}

export interface RenderOptions {
  /** "now" for a running incident's elapsed time (default: the clock). */
  now?: Date;
  secrets?: readonly string[];
}

export function renderReport(m: ReportModel, opts: RenderOptions = {}): string {
  const f = factsOf(m, opts);
  const out = [
    ...summarySection(m, f),
    ...planSection(f.s),
    ...triggerSection(f),
    ...timeToResolveSection(f),
    // The same incident as a picture: renders on GitHub, GitLab and most wikis.
    '## Timeline chart',
    '',
    renderMermaidGantt(chartOf(m, opts)),
    '',
    ...stepsSection(f),
    ...timelineSection(m),
    ...escalationsSection(m),
    ...approvalsSection(m),
    ...signalsSection(m),
    ...chargesSection(f.s),
    ...decisionsSection(f),
    ...evidenceSection(m),
    ...taskFailuresSection(m),
    ...followUpSection(m, f, opts),
  ];
  return sanitizeText(out.join('\n'), opts.secrets);
}

/** The runbook's steps as the incident state records them. */
function stepsSection(f: Facts): string[] {
  const { s } = f;
  const out: string[] = [];
  const line = (...l: string[]) => out.push(...l);
  if (s?.steps?.length) {
    line('## Runbook steps', '', '| step | status | started | finished | result |', '|---|---|---|---|---|');
    for (const st of s.steps)
      line(
        `| ${cell(st.title)} | ${st.status} | ${time(st.startedAt)} | ${time(st.finishedAt)} | ${cell(st.error ? `ERROR ${st.error}` : st.result)} |`,
      );
    line('');
  }
  return out;
}

/** Every event of the history as a table, and the activities still in progress. */
function timelineSection(m: ReportModel): string[] {
  const out: string[] = [];
  const line = (...l: string[]) => out.push(...l);
  line('## Timeline', '', '| time | event | detail |', '|---|---|---|');
  for (const t of m.timeline) {
    if (t.kind === 'timer-started') continue; // the fired ones (and escalations) are what happened
    const a = t.activity;
    const event =
      t.kind === 'activity-scheduled'
        ? `▶ ${cell(t.text)}`
        : t.kind === 'activity-completed'
          ? `✔ ${cell(t.text)}`
          : t.kind === 'activity-failed'
            ? `✖ ${cell(t.text)}`
            : cell(t.text);
    const detail =
      t.kind === 'activity-scheduled'
        ? `\`${a?.activityType}\``
        : a && t.kind !== 'signal'
          ? `${cell(keyResult(a))}${a.attempts > 1 ? ` (attempt ${a.attempts})` : ''}`
          : '';
    line(`| ${time(t.at)} | ${event} | ${detail} |`);
  }
  const pending = m.activities.filter((a) => a.outcome === 'scheduled' || a.outcome === 'started');
  if (pending.length) {
    line('', '**In progress**', '');
    for (const a of pending)
      line(
        `- ${cell(a.summary ?? a.activityType)} (${a.outcome}, attempt ${a.attempts || 1}${a.error ? `, last error: ${cell(a.error)}` : ''})`,
      );
  }
  line('');
  return out;
}

/** Escalations: tier, reason, and which channels delivered. */
function escalationsSection(m: ReportModel): string[] {
  const out: string[] = [];
  const line = (...l: string[]) => out.push(...l);
  const escalations = escalationsOf(m);
  line('## Escalations', '');
  if (escalations.length) {
    line('| time | tier | reason | delivered | failed |', '|---|---|---|---|---|');
    for (const e of escalations)
      line(
        `| ${time(e.at)} | ${cell(e.tier)} | ${cell(e.reason)} | ${cell(e.delivered.join(', ') || 'none')} | ${cell(e.failed.map((f) => `${f.channel}: ${f.error}`).join('; '))} |`,
      );
  } else line('None.');
  line('');
  return out;
}

/** Approval attempts: who, the decision, accepted or refused and why (never the code). */
function approvalsSection(m: ReportModel): string[] {
  const out: string[] = [];
  const line = (...l: string[]) => out.push(...l);
  const approvals = approvalsOf(m);
  line('## Approval attempts', '');
  if (approvals.length) {
    line('| time | gate | approver | decision | result | why |', '|---|---|---|---|---|---|');
    for (const a of approvals)
      line(
        `| ${time(a.at)} | ${cell(a.gate)} | ${cell(a.approver)} | ${cell(a.decision)} | ${a.result} | ${cell(a.why)} |`,
      );
  } else line('None.');
  line('');
  return out;
}

/** Signals and updates other than approvals, from people and the intake. */
function signalsSection(m: ReportModel): string[] {
  const out: string[] = [];
  const line = (...l: string[]) => out.push(...l);
  const others = m.signals.filter((sig) => !APPROVAL_NAME.test(sig.name));
  if (others.length) {
    line(
      '## Signals and updates from people and the intake',
      '',
      '| time | name | from | payload |',
      '|---|---|---|---|',
    );
    for (const sig of others)
      line(`| ${time(sig.at)} | ${cell(sig.name)} | ${cell(sig.identity ?? '')} | ${cell(sig.payload)} |`);
    line('');
  }
  return out;
}

/** Decisions the runbook recorded. */
function decisionsSection(f: Facts): string[] {
  const { s } = f;
  const out: string[] = [];
  const line = (...l: string[]) => out.push(...l);
  if (s?.decisions?.length) {
    line('## Decisions', '', ...s.decisions.map((d) => `- ${cell(d)}`), '');
  }
  return out;
}

/** Evidence files the activities wrote. */
function evidenceSection(m: ReportModel): string[] {
  const out: string[] = [];
  const line = (...l: string[]) => out.push(...l);
  const evidence = evidenceOf(m);
  line(
    '## Evidence files',
    '',
    ...(evidence.length ? evidence.map((f) => `- \`${cell(f)}\``) : ['None written.']),
    '',
  );
  return out;
}

/** Workflow task failures (a bug or a non-determinism in the workflow code). */
function taskFailuresSection(m: ReportModel): string[] {
  const out: string[] = [];
  const line = (...l: string[]) => out.push(...l);
  if (m.workflowTaskFailures.length) {
    line(
      '## Workflow task failures',
      '',
      ...m.workflowTaskFailures.map((f) => `- ${time(f.at)} ${cell(f.message)}`),
      '',
    );
  }
  return out;
}

/** The follow-up workflow, and the footer. */
function followUpSection(m: ReportModel, f: Facts, opts: RenderOptions): string[] {
  const { s } = f;
  const out: string[] = [];
  const line = (...l: string[]) => out.push(...l);
  const followUp =
    s?.followUp?.workflowId ?? m.children.find((c) => c.workflowType === 'postIncident')?.workflowId;
  line('## Follow-up', '');
  line(
    followUp
      ? `Post-incident duties (report within 24 h, post-mortem within 48 h, runbook update if needed: decided within 48 h) are tracked by workflow \`${followUp}\`.`
      : 'No follow-up workflow recorded.',
  );
  line(
    '',
    `_Generated ${time((opts.now ?? new Date()).toISOString())} from the workflow history. Secrets and approval codes are shown as ${REDACTED}._`,
    '',
  );
  return out;
}
