/**
 * The two request shapes the intake accepts, as zod schemas: Prometheus Alertmanager's webhook
 * (version 4) and a simple JSON form for any other caller (a person, a support tool, a script).
 */
import { z } from 'zod';
import { RUNBOOK_IDS } from '../../definitions/catalog';
import type { AlertEvent, RunbookId, Trigger } from '../../definitions/types';
import type { StartableRunbook } from '../incidents';

const MAX_LABELS = 64;
export const CHARGE_ID = /^(ch|pi)_[A-Za-z0-9]{1,64}$/;
const text = (max: number) => z.string().max(max, { message: `must be at most ${max} characters` });

const labelName = /^[A-Za-z_][A-Za-z0-9_]*$/;
const labelSet = (max: number) =>
  z
    .record(z.string().regex(labelName, { message: 'must be a label name' }), text(max))
    .refine((r) => Object.keys(r).length <= MAX_LABELS, { message: `at most ${MAX_LABELS} entries` });

/** An RFC 3339 time, as Alertmanager sends (`0001-01-01T00:00:00Z` means "not set"). */
const time = z.iso
  .datetime({ offset: true, message: 'must be an RFC 3339 time, e.g. 2026-02-01T10:00:00Z' })
  .refine((v) => Number.isFinite(Date.parse(v)), { message: 'must be a valid time' });

const alertStatus = z.enum(['firing', 'resolved'], { message: 'must be "firing" or "resolved"' });

export const alertmanagerAlert = z.object({
  status: alertStatus,
  labels: labelSet(1024).refine((l) => typeof l.alertname === 'string' && l.alertname.length > 0, {
    message: 'must include alertname',
  }),
  annotations: labelSet(4096).default({}),
  startsAt: time,
  endsAt: time.optional(),
  generatorURL: text(2048).optional(),
  fingerprint: text(64).optional(),
});

export const alertmanagerPayload = z.object({
  version: z.literal('4', { message: 'must be "4" (Alertmanager webhook version 4)' }),
  groupKey: text(4096),
  truncatedAlerts: z.number().int().min(0).optional(),
  status: alertStatus,
  receiver: text(256),
  groupLabels: labelSet(1024).default({}),
  commonLabels: labelSet(1024).default({}),
  commonAnnotations: labelSet(4096).default({}),
  externalURL: text(2048).default(''),
  alerts: z
    .array(alertmanagerAlert)
    .min(1, { message: 'must hold at least one alert' })
    .max(1000, { message: 'at most 1000 alerts per request' }),
});

export type AlertmanagerPayload = z.infer<typeof alertmanagerPayload>;

const value = z.union([z.number().finite(), text(256)]);

/**
 * The simple form: one alert, by alert name or runbook ID, with the target given directly or as a
 * label. `description`, `values` and `startedBy` end up in the incident's trigger.
 */
export const simpleAlert = z
  .object({
    alertName: z
      .string()
      .regex(/^[A-Za-z_:][A-Za-z0-9_:]{0,127}$/, { message: 'must be an alert name' })
      .optional(),
    runbook: z
      .enum(RUNBOOK_IDS as [RunbookId, ...RunbookId[]], {
        message: `must be one of ${RUNBOOK_IDS.join(', ')}`,
      })
      .optional(),
    status: alertStatus.default('firing'),
    target: text(128).optional(),
    labels: labelSet(1024).default({}),
    annotations: labelSet(4096).default({}),
    description: text(4096).optional(),
    values: z
      .record(z.string().max(128), value)
      .refine((r) => Object.keys(r).length <= MAX_LABELS, { message: `at most ${MAX_LABELS} entries` })
      .optional(),
    startedBy: text(256).optional(),
    startsAt: time.optional(),
    fingerprint: text(64).optional(),
    /** P0-3: the incorrect charges (Stripe ch_… or pi_… IDs). */
    charges: z
      .array(
        z
          .string()
          .regex(CHARGE_ID, { message: 'must be a Stripe charge (ch_…) or payment intent (pi_…) ID' }),
      )
      .max(100)
      .optional(),
    /** P0-4: what leaked or was miscalculated. */
    violation: text(4096).optional(),
  })
  .strict()
  .refine((a) => a.alertName !== undefined || a.runbook !== undefined, {
    message: 'give alertName or runbook',
    path: ['alertName'],
  });

export type SimpleAlert = z.infer<typeof simpleAlert>;

/** "alerts[0].labels.alertname: must include alertname; ..." — every problem with its path. */
export function describeIssues(error: z.ZodError): string[] {
  return error.issues.slice(0, 20).map((issue) => {
    const path = issue.path
      .map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i === 0 ? '' : '.'}${String(p)}`))
      .join('');
    return `${path || '(body)'}: ${issue.message}`;
  });
}

/** One alert, mapped and ready to act on. */
export interface MappedAlert {
  index: number;
  alertName: string;
  status: 'firing' | 'resolved';
  runbook: StartableRunbook;
  target: string;
  workflowId: string;
  trigger: Trigger;
  event: AlertEvent;
  /** Runbook-specific input: P0-3 `charges`/`reportedBy`, P0-4 `violation`. */
  extraInput?: Record<string, unknown>;
  /** The intake's policy overrides for this runbook (IntakeOptions.runbookPolicies), if any. */
  policy?: Record<string, unknown>;
}
