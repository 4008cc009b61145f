/** The intake's own Prometheus metrics, on a registry of its own (no global state between instances). */
import { Counter, collectDefaultMetrics, Histogram, Registry } from 'prom-client';

export interface IntakeMetrics {
  registry: Registry;
  requests: Counter<'endpoint' | 'outcome'>;
  duration: Histogram<'endpoint'>;
  alerts: Counter<'runbook' | 'outcome'>;
  folded: Counter<'outcome'>;
  truncated: Counter;
}

export function createIntakeMetrics(opts: { defaultMetrics?: boolean } = {}): IntakeMetrics {
  const registry = new Registry();
  if (opts.defaultMetrics) collectDefaultMetrics({ register: registry, prefix: 'accubooks_intake_' });
  return {
    registry,
    requests: new Counter({
      name: 'accubooks_intake_requests_total',
      help: 'Alert intake requests by endpoint and outcome (ok, unauthorized, malformed, invalid, ...)',
      labelNames: ['endpoint', 'outcome'],
      registers: [registry],
    }),
    duration: new Histogram({
      name: 'accubooks_intake_request_duration_seconds',
      help: 'Time to answer an intake request, by endpoint',
      labelNames: ['endpoint'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    }),
    alerts: new Counter({
      name: 'accubooks_intake_alerts_total',
      help: 'Alerts handled, by runbook and outcome (started, joined, queued, ignored, failed)',
      labelNames: ['runbook', 'outcome'],
      registers: [registry],
    }),
    folded: new Counter({
      name: 'accubooks_intake_folded_alerts_total',
      help: 'Queued (folded) alerts delivered to Temporal, by outcome (started, joined, ignored, retry)',
      labelNames: ['outcome'],
      registers: [registry],
    }),
    truncated: new Counter({
      name: 'accubooks_intake_truncated_alerts_total',
      help: "Alerts Alertmanager left out of its notifications (truncatedAlerts, the receiver's max_alerts): they reached no incident",
      registers: [registry],
    }),
  };
}
