/**
 * Durations and thresholds from the seed runbook, as typed defaults a caller may override.
 * Anything a game day would compress is here, never inline in a workflow.
 */
import type { Severity } from '../types';

/** MTTR targets from the seed: "P0 <30min, P1 <4hr". */
export const MTTR_TARGET_MS: Record<Severity, number> = {
  P0: 30 * 60_000,
  P1: 4 * 60 * 60_000,
};

/** Shared by every runbook. */
export interface CommonPolicy {
  /** Override of the MTTR target for this incident (defaults by severity). */
  mttrTargetMs?: number;
  /** How often a runbook re-checks while it waits for recovery. */
  recheckIntervalMs: number;
  /** Longest pause between re-checks (re-checks back off up to this). */
  maxRecheckIntervalMs: number;
  /** A human may also close an incident; without that it is abandoned after this long. */
  giveUpAfterMs: number;
  /** Roles whose one-time code abandons the incident (stops its automation and escalation). */
  abandonRoles: string[];
}

export const commonDefaults: CommonPolicy = {
  recheckIntervalMs: 60_000,
  maxRecheckIntervalMs: 10 * 60_000,
  giveUpAfterMs: 7 * 24 * 60 * 60_000,
  abandonRoles: ['CTO'],
};

export { withDefaults } from './gate-policy';
