/**
 * The report's opening sections, about the incident as a whole: the summary table, what triggered
 * it, and its time to resolve against the target. `factsOf` works out what they (and the rest of
 * the report) say alike.
 */
import { safeLink } from '../../definitions/links';
import type { IncidentState } from '../../definitions/types';
import { cell, time } from './cells';
import { incidentClock, runbookOf } from './facts';
import { formatDuration, type ReportModel } from './model';

/** What several sections say alike: the state, the runbook, the clock, the title and status. */
export interface Facts {
  s: IncidentState | undefined;
  input: ReportModel['input'];
  entry: ReturnType<typeof runbookOf>;
  clock: ReturnType<typeof incidentClock>;
  severity: ReturnType<typeof incidentClock>['severity'];
  target: string;
  title: string;
  incidentStatus: string;
  trigger: NonNullable<ReportModel['input']>['trigger'] | undefined;
}

export function factsOf(m: ReportModel, opts: { now?: Date }): Facts {
  const s: IncidentState | undefined = m.state;
  const input = m.input;
  const entry = runbookOf(m);
  const clock = incidentClock(m, opts.now);
  const severity = clock.severity;
  const target = s?.target ?? input?.target ?? '?';
  const title = s?.title ?? (entry ? `${entry.id} ${entry.name}: ${target}` : `${m.workflowType}: ${target}`);
  const incidentStatus = s?.status ?? (m.status === 'running' ? 'open' : m.status);
  const trigger = s?.trigger ?? input?.trigger;
  return { s, input, entry, clock, severity, target, title, incidentStatus, trigger };
}

/** The title, a still-running note, and the summary table. */
export function summarySection(m: ReportModel, f: Facts): string[] {
  const { s, input, entry, severity, target, title, incidentStatus } = f;
  const out: string[] = [];
  const line = (...l: string[]) => out.push(...l);
  line(`# Incident report: ${title}`, '');
  if (m.status === 'running') line('> **Still running**: this report shows the incident as of now.', '');
  line('## Summary', '', '| | |', '|---|---|');
  line(`| Incident | ${cell(s?.incidentId ?? input?.incidentId ?? '?')} |`);
  line(`| Runbook | ${cell(entry ? `${entry.id} ${entry.name}` : m.workflowType)} |`);
  line(`| Severity | ${cell(severity ?? '?')} |`);
  line(`| Target | ${cell(target)} |`);
  line(`| Status | ${cell(incidentStatus)} (workflow ${m.status}) |`);
  line(`| Workflow | \`${cell(m.workflowId ?? '?')}\` run \`${cell(m.runId ?? '?')}\` |`);
  line(`| Started | ${time(m.startedAt)} |`);
  if (m.builds.length) line(`| Ran on | ${cell(m.builds.map(describeBuild).join(', then '))} |`);
  if (m.closedAt) line(`| Closed | ${time(m.closedAt)} |`);
  if (s?.outcome) line(`| Outcome | ${cell(s.outcome)} |`);
  if (s?.closedBy)
    line(`| Closed by | ${cell(`${s.closedBy.by} (${s.closedBy.action}): ${s.closedBy.reason}`)} |`);
  if (m.closeReason) line(`| Close reason | ${cell(m.closeReason)} |`);
  line('');
  return out;
}

/** What started the incident: the alert or the person, its labels and values, later firings. */
export function triggerSection(f: Facts): string[] {
  const { s, trigger } = f;
  const out: string[] = [];
  const line = (...l: string[]) => out.push(...l);
  line('## Trigger', '');
  if (trigger) {
    line(
      `- Source: ${trigger.source}${trigger.alertName ? ` — alert \`${trigger.alertName}\`` : ''}${trigger.startedBy ? ` — started by ${trigger.startedBy}` : ''}`,
    );
    if (trigger.description) line(`- Description: ${cell(trigger.description)}`);
    if (trigger.startsAt) line(`- Alert started at: ${time(trigger.startsAt)}`);
    if (trigger.fingerprint) line(`- Fingerprint: \`${cell(trigger.fingerprint)}\``);
    // Shown for a person to open, never fetched; only plain http(s) URLs (definitions/links.ts).
    const generator = safeLink(trigger.generatorURL);
    const alertmanager = safeLink(trigger.externalURL);
    if (generator) line(`- Rule in Prometheus: <${generator}>`);
    if (alertmanager) line(`- Alertmanager: <${alertmanager}>`);
    if (trigger.truncatedAlerts)
      line(
        `- Alertmanager left ${cell(trigger.truncatedAlerts)} alert(s) out of the notification that started it (max_alerts)`,
      );
    const kv = (title: string, rec?: Record<string, unknown>) => {
      if (!rec || !Object.keys(rec).length) return;
      line('', `**${title}**`, '', '| name | value |', '|---|---|');
      for (const [k, v] of Object.entries(rec)) line(`| ${cell(k)} | ${cell(v)} |`);
    };
    kv('Labels', trigger.labels);
    kv('Annotations', trigger.annotations);
    kv('Alert values at trigger', trigger.values);
    if (s?.alerts) {
      line(
        '',
        `Alert firings: ${s.alerts.firing}, resolutions: ${s.alerts.resolved}${s.alerts.lastAt ? ` (last ${s.alerts.lastStatus} at ${time(s.alerts.lastAt)})` : ''}`,
      );
      if (s.alerts.truncated)
        line(
          '',
          `Notifications with alerts left out by Alertmanager (max_alerts): ${cell(s.alerts.truncated.notifications)}, the latest left out ${cell(s.alerts.truncated.latestAlerts)} at ${time(s.alerts.truncated.lastAt)}; their targets may have no incident.`,
        );
      if (s.alerts.latestValues && JSON.stringify(s.alerts.latestValues) !== JSON.stringify(trigger.values))
        kv('Latest alert values', s.alerts.latestValues);
    }
  } else line('_No trigger recorded._');
  line('');
  return out;
}

/** Time to resolve against the runbook's target, with the waits for a person. */
export function timeToResolveSection(f: Facts): string[] {
  const { s, clock, incidentStatus } = f;
  const out: string[] = [];
  const line = (...l: string[]) => out.push(...l);
  line('## Time to resolve', '');
  const { detectedAt, targetMs, resolvedAt, ttrMs: ttr, breached } = clock;
  line(`- Detected: ${time(detectedAt)}`);
  if (s?.mttr.remediationStartedAt) line(`- Remediation started: ${time(s.mttr.remediationStartedAt)}`);
  if (s?.mttr.waits?.length) {
    for (const w of s.mttr.waits)
      line(
        `- Waited for a person (${cell(w.what)}): ${time(w.since)} → ${time(w.until)}${w.ms !== undefined ? ` (${formatDuration(w.ms)})` : ''}`,
      );
  }
  const targetText = targetMs !== undefined ? formatDuration(targetMs) : '?';
  if (resolvedAt) {
    line(`- ${incidentStatus === 'resolved' ? 'Resolved' : 'Closed'}: ${time(resolvedAt)}`);
    line(
      `- **Time to resolve ${formatDuration(ttr)} vs target ${targetText}: ${breached ? 'BREACHED' : 'within target'}**`,
    );
  } else {
    line(
      `- **Open for ${formatDuration(ttr)} so far vs target ${targetText}${breached ? ': BREACHED' : ''}**`,
    );
  }
  if (s?.mttr.breachNotifiedAt) line(`- Breach notified at ${time(s.mttr.breachNotifiedAt)}`);
  line('');
  return out;
}

/** "build 0.1.0+abc (accubooks-runbooks, pinned)": which code ran the incident (issue 22). */
const describeBuild = (b: ReportModel['builds'][number]) =>
  `build ${b.buildId}${b.deployment ? ` (${b.deployment}${b.pinned ? ', pinned' : ''})` : ' (unversioned worker)'}`;
