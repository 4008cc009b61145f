/**
 * What "error rate" and "p95 latency" of the API mean, in one place: the alert rules in alerts/
 * (generated from alerts/rules.ts) and the P1-1/P1-2 runbooks' verification queries are both built
 * here. If they differed, a runbook could call an incident resolved while its alert still fires
 * (and the alert would reopen it), or never resolve one whose alert has cleared.
 *
 * Both count user traffic of the API role only: Prometheus scrapes (`/metrics`), the monitoring
 * routes (a failing health check answers 503 by design) and the sandbox's fault controls are not
 * what users see.
 */

/** Routes that are not user traffic (a regex for `route!~`). */
export const NON_USER_ROUTES = '/metrics|/api/monitoring/.*|/api/sandbox/.*';

/** The API instances' series (sandbox/metrics.ts labels every series with its role). */
export const API_SERIES = 'role="api"';

/** The range of rate() in the alert rules, and the runbooks' default ({{window}}). */
export const RATE_WINDOW = '1m';

/** Which series and how they are grouped: the alerts group by instance, a runbook selects its target. */
export interface QueryScope {
  /** Extra label matchers, comma-separated, e.g. `instance_name="{{target}}"`; '' for none. */
  matchers: string;
  /** Labels kept by the aggregation (the alert's per-instance grouping); [] for one number. */
  by: string[];
  /** rate() range: a duration or the `{{window}}` placeholder. */
  window: string;
}

const selector = (s: QueryScope, extra = '') =>
  `{${[API_SERIES, s.matchers, extra, `route!~"${NON_USER_ROUTES}"`].filter(Boolean).join(',')}}`;
const sum = (by: string[], inner: string) =>
  by.length === 0 ? `sum(${inner})` : `sum by (${by.join(', ')}) (${inner})`;

/**
 * Error rate 0..1: 5xx answers / all answers. A process with traffic but no 5xx series yet has an
 * error rate of 0, not "no data" (`or 0 * all` keeps the grouping labels, unlike `or vector(0)`);
 * a process with no traffic at all has no error rate.
 */
export function errorRateQuery(s: QueryScope): string {
  const all = sum(s.by, `rate(http_requests_total${selector(s)}[${s.window}])`);
  const errors = sum(s.by, `rate(http_requests_total${selector(s, 'status=~"5.."')}[${s.window}])`);
  return `(${errors} or 0 * ${all}) / ${all}`;
}

/** p95 request latency in seconds, from the duration histogram. */
export function p95LatencyQuery(s: QueryScope): string {
  const buckets = sum(
    [...s.by, 'le'],
    `rate(http_request_duration_seconds_bucket${selector(s)}[${s.window}])`,
  );
  return `histogram_quantile(0.95, ${buckets})`;
}

/** The alert rules' scope: every API instance, one series per instance (its `instance_name`). */
export const ALERT_SCOPE: QueryScope = { matchers: '', by: ['instance_name'], window: RATE_WINDOW };

/**
 * A runbook's scope: the incident's target. The intake maps the alert's `service` label, which is
 * the `instance_name`, to the target, so this is the alert's series for that instance.
 */
export const TARGET_SCOPE: QueryScope = {
  matchers: 'instance_name="{{target}}"',
  by: [],
  window: '{{window}}',
};
