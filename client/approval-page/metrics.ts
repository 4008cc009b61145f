/** The approval page's own Prometheus metrics, on a registry of its own. */
import { Counter, collectDefaultMetrics, Histogram, Registry } from 'prom-client';

export interface PageMetrics {
  registry: Registry;
  requests: Counter<'endpoint' | 'outcome'>;
  duration: Histogram<'endpoint'>;
  verdicts: Counter<'decision' | 'outcome'>;
}

export function createPageMetrics(opts: { defaultMetrics?: boolean } = {}): PageMetrics {
  const registry = new Registry();
  if (opts.defaultMetrics) collectDefaultMetrics({ register: registry, prefix: 'accubooks_approval_page_' });
  return {
    registry,
    requests: new Counter({
      name: 'accubooks_approval_page_requests_total',
      help: 'Approval page requests by endpoint and outcome (shown, invalid-link, csrf, replay, submitted, ...)',
      labelNames: ['endpoint', 'outcome'],
      registers: [registry],
    }),
    duration: new Histogram({
      name: 'accubooks_approval_page_request_duration_seconds',
      help: 'Time to answer an approval page request, by endpoint',
      labelNames: ['endpoint'],
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    }),
    verdicts: new Counter({
      name: 'accubooks_approval_page_verdicts_total',
      help: "Submissions by decision and the workflow's verdict (accepted, refused, not-stored, no-answer, closed)",
      labelNames: ['decision', 'outcome'],
      registers: [registry],
    }),
  };
}
