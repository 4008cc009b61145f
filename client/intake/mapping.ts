/**
 * Which runbook an alert starts and which target it names. Pure functions over the alert's labels,
 * so the intake, the CLI and the tests share one mapping.
 */
import { isRunbookId, RUNBOOKS } from '../../definitions/catalog';
import type { RunbookId } from '../../definitions/types';

/**
 * The seed's detections, by the alert names the rules in alerts/ fire (override or extend with
 * INTAKE_ALERT_RUNBOOKS). Billing errors and data-integrity violations may also come from a person
 * through the simple JSON endpoint or the CLI.
 */
export const DEFAULT_ALERT_RUNBOOKS: Readonly<Record<string, RunbookId>> = {
  SystemUnreachable: 'P0-1',
  DatabasePoolExhaustion: 'P0-2',
  HighErrorRate: 'P1-1',
  HighLatency: 'P1-2',
  QueueOverflow: 'P1-3',
  BillingError: 'P0-3',
  DataIntegrityViolation: 'P0-4',
};

/** Docker container names; the target also becomes part of the workflow ID. */
export const TARGET_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$/;

export function alertRunbookMap(overrides: Record<string, string> = {}): Record<string, RunbookId> {
  const map: Record<string, RunbookId> = { ...DEFAULT_ALERT_RUNBOOKS };
  for (const [name, id] of Object.entries(overrides)) {
    if (!isRunbookId(id) || !Object.hasOwn(RUNBOOKS, id))
      throw new Error(`alert ${name} maps to ${id}, which is not a runbook ID`);
    map[name] = id;
  }
  return map;
}

/** "SystemUnreachable (P0-1 System down), ..." for error messages. */
export function describeKnownAlerts(map: Record<string, RunbookId>): string {
  return Object.entries(map)
    .map(([name, id]) => `${name} (${id} ${RUNBOOKS[id].name})`)
    .join(', ');
}

export type TargetResult = { ok: true; target: string; label: string } | { ok: false; problem: string };

/** The target container from the first of `targetLabels` that is present. */
export function targetOf(labels: Record<string, string>, targetLabels: readonly string[]): TargetResult {
  for (const label of targetLabels) {
    const value = labels[label];
    if (value === undefined || value === '') continue;
    if (!TARGET_NAME.test(value)) {
      return {
        ok: false,
        problem: `label ${label}="${value.slice(0, 80)}" is not a valid target (a container name: letters, digits, _ . -, up to 128 characters)`,
      };
    }
    return { ok: true, target: value, label };
  }
  return {
    ok: false,
    problem: `missing target label: set one of ${targetLabels.join(', ')} to the container the runbook acts on`,
  };
}
