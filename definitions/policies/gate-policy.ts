/**
 * Policy overrides at trigger time may tighten a gate and never loosen it. Whoever starts an
 * incident (the intake's token holder, anyone with the CLI or the UI's "Start workflow") must not be
 * able to turn "CEO approval required" into "anyone in Legal", stretch the 15-minute escalation to a
 * week, or shorten the give-up window so a P0 abandons itself. One table, used by the workflows
 * (which refuse to start on a loosening) and by the CLI and the intake (which refuse before starting).
 */
import { ApplicationFailure } from '@temporalio/common';

/** How a field may move: `more` = roles may be added (never removed); `lower`/`higher` = numbers. */
export type GateRule = 'more' | 'lower' | 'higher';

export const GATE_RULES: Record<string, { rule: GateRule; why: string }> = {
  approvalRoles: { rule: 'more', why: 'every listed role must approve: removing one loosens the gate' },
  abandonRoles: { rule: 'more', why: 'who may abandon (stop paging) an incident' },
  notifyRoles: { rule: 'more', why: 'who is told immediately' },
  codeTtlMs: { rule: 'lower', why: 'a code that lives longer is longer to guess and to leak' },
  maxWrongCodes: { rule: 'lower', why: 'guesses allowed before codes become long' },
  escalateAfterMs: { rule: 'lower', why: 'the runbook’s escalation deadline' },
  unmeasuredEscalateAfterMs: { rule: 'lower', why: 'escalation when the metric cannot be read' },
  giveUpAfterMs: { rule: 'higher', why: 'an incident gives up (abandons itself) only after this' },
};

export const INVALID_POLICY = 'INVALID_POLICY';

/**
 * Limits that only the worker's configuration sets, never a trigger: a policy override that names
 * one is refused whatever its value (the workflow does not read them from its policy anyway).
 */
export const WORKER_ONLY_FIELDS: Record<string, string> = {
  refundCaps: 'REFUND_CAP_PER_CHARGE, REFUND_CAP_PER_INCIDENT, REFUND_CAP_COUNT_PER_INCIDENT',
  refundCapPerCharge: 'REFUND_CAP_PER_CHARGE',
  refundCapPerIncident: 'REFUND_CAP_PER_INCIDENT',
  refundCapCountPerIncident: 'REFUND_CAP_COUNT_PER_INCIDENT',
};
/** Any other spelling of a refund limit (`maxRefundAmount`, `refund_limit`...): refused the same way. */
const REFUND_LIMIT_NAME = /refund.*(cap|max|limit)|(cap|max|limit).*refund/i;

/** What is wrong with the overrides, one line each; empty when they only tighten. */
export function loosenedFields(defaults: object, overrides: object | undefined): string[] {
  if (!overrides) return [];
  const d = defaults as Record<string, unknown>;
  const problems: string[] = [];
  for (const [field, value] of Object.entries(overrides)) {
    if (Object.hasOwn(WORKER_ONLY_FIELDS, field) || REFUND_LIMIT_NAME.test(field)) {
      problems.push(
        `${field} cannot be set by a trigger: the refund caps are the worker's configuration (${WORKER_ONLY_FIELDS[field] ?? WORKER_ONLY_FIELDS.refundCaps}) and a refund over them waits for an approval`,
      );
      continue;
    }
    const rule = GATE_RULES[field];
    if (!rule || !(field in d) || value === undefined) continue;
    const base = d[field];
    if (rule.rule === 'more') {
      const given = Array.isArray(value) ? value : undefined;
      const missing = (base as string[]).filter((r) => !given?.includes(r));
      if (!given || !given.every((r) => typeof r === 'string') || missing.length)
        problems.push(
          `${field} must keep ${(base as string[]).join(', ')} (may only add roles): ${rule.why}`,
        );
    } else if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
      problems.push(`${field} must be a positive number`);
    } else if (rule.rule === 'lower' ? value > (base as number) : value < (base as number)) {
      problems.push(
        `${field} may only be ${rule.rule === 'lower' ? 'lowered' : 'raised'} from its default ${String(base)} (got ${value}): ${rule.why}`,
      );
    }
  }
  return problems;
}

/** The runbook's policy: defaults, then the overrides, refused (nothing done) when one loosens a gate. */
export function withDefaults<P extends object>(defaults: P, overrides: Partial<P> | undefined): P {
  const problems = loosenedFields(defaults, overrides);
  if (problems.length) {
    throw ApplicationFailure.nonRetryable(
      `policy override refused (a trigger may tighten a gate, never loosen it): ${problems.join('; ')}`,
      INVALID_POLICY,
    );
  }
  return { ...defaults, ...(overrides ?? {}) };
}
