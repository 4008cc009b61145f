/**
 * The Markdown the Temporal UI shows as the incident's current details: where it is, what it saw,
 * when it escalates next, and, while it waits for a person, exactly what to paste into
 * "Send a Signal".
 */
import type { IncidentState } from './types';

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

export function renderCurrentDetails(s: IncidentState, escalationDueAt?: string): string {
  const lines = [
    `**Status** ${s.status} · **Step** ${s.currentStep}`,
    `**MTTR** target ${Math.round(s.mttr.targetMs / 60_000)} min from ${s.mttr.detectedAt}${s.mttr.breached ? ' — **BREACHED**' : ''}`,
  ];
  if (escalationDueAt && s.status !== 'resolved' && s.status !== 'abandoned')
    lines.push(`**Next escalation** ${escalationDueAt}`);
  if (s.escalations.length) {
    const last = s.escalations[s.escalations.length - 1];
    const failed = last.failed?.length
      ? ` — **not delivered via** ${last.failed.map((f) => f.channel).join(', ')}`
      : '';
    lines.push(`**Escalated** ${s.escalations.length}× (last ${last.at} to ${last.tier})${failed}`);
  }
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
  if (s.waitingFor) {
    lines.push(
      '',
      `### Waiting for: ${s.waitingFor.what}`,
      `Send a Signal named \`${s.waitingFor.signal}\` with this JSON (fill in your code and reason):`,
      '```json',
      JSON.stringify(s.waitingFor.example, null, 2),
      '```',
    );
  }
  if (s.outcome) lines.push('', `**Outcome** ${s.outcome}`);
  return lines.join('\n');
}
