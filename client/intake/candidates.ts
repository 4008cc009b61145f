/**
 * Each alert of a request, mapped to the incident it starts or joins: its runbook, its target, the
 * trigger a new incident starts with and the event a running one receives. An alert that cannot be
 * handled is a problem that names it (the whole request is then rejected, nothing started), or, with
 * INTAKE_UNKNOWN_ALERTS=ignore, an unknown alert name is ignored.
 */
import { incidentWorkflowId, RUNBOOK_WORKFLOWS, type StartableRunbook } from '../incidents';
import { RUNBOOKS } from '../../definitions/catalog';
import { linkProblem } from '../../definitions/links';
import type { RunbookId } from '../../definitions/types';
import type { AlertResult } from './delivery';
import { describeKnownAlerts, targetOf } from './mapping';
import { CHARGE_ID, type MappedAlert } from './schema';

export type Candidate =
  | { kind: 'alert'; alert: MappedAlert; linksDropped?: string[] }
  | { kind: 'ignored'; result: AlertResult }
  | { kind: 'problem'; problem: string; unknownName?: boolean };

/** One alert as either endpoint received it (an Alertmanager alert with the notification's fields). */
export interface AlertInput {
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
}

/** The intake's settings the mapping reads (IntakeOptions). */
export interface MappingSettings {
  targetLabels: string[];
  alertRunbooks: Record<string, RunbookId>;
  unknownAlerts: 'reject' | 'ignore';
  runbookPolicies?: Partial<Record<RunbookId, Record<string, unknown>>>;
}

export type AlertMapper = (index: number, a: AlertInput, source: string) => Candidate;

export function alertMapper(opts: MappingSettings): AlertMapper {
  const known = describeKnownAlerts(opts.alertRunbooks);
  return (index, a, source) => {
    const where = `alert ${index}`;
    const alertName = a.alertName ?? a.labels.alertname ?? (a.runbook ? `${a.runbook}-manual` : '');
    const runbook = runbookOf(opts, known, { index, a, where, alertName });
    if (typeof runbook !== 'string') return runbook;
    const target = a.target
      ? targetOf({ target: a.target }, ['target'])
      : targetOf(a.labels, opts.targetLabels);
    if (!target.ok) return { kind: 'problem', problem: `${where}: ${target.problem}` };
    return mapped(opts, { index, a, where, alertName, source, runbook, target: target.target });
  };
}

/** The alert's runbook, by its name or as given (both must agree), or why there is none. */
function runbookOf(
  opts: MappingSettings,
  known: string,
  c: { index: number; a: AlertInput; where: string; alertName: string },
): StartableRunbook | Candidate {
  const { index, a, where, alertName } = c;
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
  return runbook;
}

/** The alert's values, its `value` annotation included (a number when it reads as one). */
function valuesOf(a: AlertInput): Record<string, number | string> | undefined {
  const values: Record<string, number | string> = { ...(a.values ?? {}) };
  if (a.annotations.value !== undefined) {
    const n = Number(a.annotations.value);
    values.value = a.annotations.value.trim() !== '' && Number.isFinite(n) ? n : a.annotations.value;
  }
  return Object.keys(values).length ? values : undefined;
}

/**
 * Links are shown to people, never fetched: only plain http(s) URLs are kept. A bad link drops
 * the link, not the alert (Alertmanager does not retry a 4xx; the alert would be lost).
 */
function keptLinks(a: AlertInput) {
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
  return { links, linksDropped: linksDropped.length ? linksDropped : undefined };
}

function mapped(
  opts: MappingSettings,
  c: {
    index: number;
    a: AlertInput;
    where: string;
    alertName: string;
    source: string;
    runbook: StartableRunbook;
    target: string;
  },
): Candidate {
  const { index, a, where, alertName, source, runbook, target } = c;
  const values = valuesOf(a);
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
  const { links, linksDropped } = keptLinks(a);
  const truncatedAlerts = a.truncatedAlerts ? a.truncatedAlerts : undefined;
  const extraInput =
    runbook === 'P0-3'
      ? { charges, reportedBy: a.startedBy ?? source }
      : runbook === 'P0-4'
        ? { violation: a.violation ?? description }
        : undefined;
  const alert: MappedAlert = {
    index,
    alertName,
    status: a.status,
    runbook: runbook,
    target,
    workflowId: incidentWorkflowId(runbook, target),
    trigger: {
      source: 'alert',
      alertName,
      labels: a.labels,
      annotations: a.annotations,
      startsAt: setTime(a.startsAt),
      fingerprint: a.fingerprint,
      startedBy: a.startedBy ?? source,
      description,
      values,
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
      values,
      // P0-3: a later alert's charges join the running incident (never folded away, see actOnAll).
      charges: runbook === 'P0-3' && charges?.length ? charges : undefined,
      labels: a.labels,
      truncatedAlerts,
    },
    extraInput,
    policy: opts.runbookPolicies?.[runbook],
  };
  return { kind: 'alert', alert, linksDropped };
}
