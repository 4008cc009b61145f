/**
 * Metrics through the Prometheus HTTP API (instant queries, `/api/v1/query`). The PromQL of each
 * check comes from the runbook's policy, with placeholders filled here so that every query is
 * scoped to the incident's target:
 *   {{target}}       the target name, escaped for a label value ("instance_name=\"{{target}}\"")
 *   {{targetRegex}}  the target name, regex-escaped, for `=~` matchers (replicas: "{{targetRegex}}-.*")
 *   {{window}}       the policy's range for rate() and friends ("1m")
 * No data (empty vector, NaN) is a result (`value: null`); an unreachable Prometheus or a query it
 * rejects is an activity failure the runbook records as a check that cannot run.
 */
import { describeError, FailureType, nonRetryable, retryable } from '../definitions/errors';

export interface PrometheusDeps {
  prometheusUrl?: string;
  fetch?: typeof fetch;
  timeoutMs?: number;
}

export interface MetricQuery {
  /** Short name for the state and errors: "error rate", "p95 latency". */
  name: string;
  /** PromQL with {{target}}, {{targetRegex}} and {{window}} placeholders. */
  query: string;
  target: string;
  window?: string;
}

export interface MetricSample {
  name: string;
  /** The PromQL actually sent. */
  query: string;
  /** First sample of the resulting vector (or the scalar); null when Prometheus has no data. */
  value: number | null;
  /** Number of series in the answer (more than one usually means the query is not aggregated). */
  series: number;
  /** Evaluation time Prometheus reports, ISO. */
  at: string;
}

const labelEscape = (s: string) => s.replace(/\\/g, '\\\\').replace(/"/g, '\\"');
const regexEscape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Fills the placeholders; unknown placeholders are an input error, not a silent literal. */
export function renderQuery(q: Pick<MetricQuery, 'query' | 'target' | 'window'>): string {
  const vars: Record<string, string> = {
    target: labelEscape(q.target),
    targetRegex: labelEscape(regexEscape(q.target)),
    window: q.window ?? '1m',
  };
  if (!/^\d+(ms|s|m|h|d)$/.test(vars.window)) {
    throw nonRetryable(FailureType.InvalidInput, `Invalid PromQL range "${vars.window}" (e.g. 30s, 1m, 5m)`);
  }
  return q.query.replace(/\{\{(\w+)\}\}/g, (whole, name: string) => {
    const v = vars[name];
    if (v === undefined) {
      throw nonRetryable(
        FailureType.InvalidInput,
        `Unknown placeholder ${whole} in PromQL; known: {{target}}, {{targetRegex}}, {{window}}`,
      );
    }
    return v;
  });
}

interface PromResponse {
  status: 'success' | 'error';
  errorType?: string;
  error?: string;
  data?: {
    resultType: 'vector' | 'scalar' | 'matrix' | 'string';
    result: unknown;
  };
}

function parseValue(raw: unknown): number | null {
  const n = typeof raw === 'string' ? Number(raw) : NaN;
  return Number.isFinite(n) ? n : null;
}

export const createPrometheusActivities = (deps: PrometheusDeps) => {
  const doFetch = deps.fetch ?? fetch;
  const timeoutMs = deps.timeoutMs ?? 10_000;

  async function instant(q: MetricQuery): Promise<MetricSample> {
    if (!deps.prometheusUrl) {
      throw nonRetryable(
        FailureType.DependencyUnavailable,
        `Cannot measure ${q.name}: PROMETHEUS_URL is not configured`,
      );
    }
    const query = renderQuery(q);
    const url = `${deps.prometheusUrl.replace(/\/+$/, '')}/api/v1/query`;
    let res: Response;
    let body: PromResponse;
    try {
      res = await doFetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ query }).toString(),
        signal: AbortSignal.timeout(timeoutMs),
      });
      body = (await res.json()) as PromResponse;
    } catch (err) {
      throw retryable(
        FailureType.DependencyUnavailable,
        `Prometheus unreachable for ${q.name}: ${describeError(err)}`,
        err instanceof Error ? err : undefined,
      );
    }
    if (body.status !== 'success' || !body.data) {
      const msg = `Prometheus rejected the ${q.name} query (${body.errorType ?? res.status}): ${body.error ?? 'no data'}`;
      // bad_data is a wrong query: retrying cannot fix it. Anything else may be transient.
      if (res.status === 400 || body.errorType === 'bad_data')
        throw nonRetryable(FailureType.InvalidInput, msg);
      throw retryable(FailureType.DependencyUnavailable, msg);
    }
    const at = new Date().toISOString();
    const { resultType, result } = body.data;
    if (resultType === 'scalar') {
      const [, v] = result as [number, string];
      return { name: q.name, query, value: parseValue(v), series: 1, at };
    }
    if (resultType === 'vector') {
      const vec = result as { metric: Record<string, string>; value: [number, string] }[];
      return { name: q.name, query, value: parseValue(vec[0]?.value[1]), series: vec.length, at };
    }
    throw nonRetryable(
      FailureType.InvalidInput,
      `The ${q.name} query must give an instant vector or scalar, not a ${resultType}`,
    );
  }

  return {
    /** One instant query (a check: "error rate", "p95 latency", "forecast_queue_depth"). */
    queryMetric: (input: MetricQuery): Promise<MetricSample> => instant(input),

    /** Several instant queries at once (one history event for a sample of related metrics). */
    async queryMetrics(input: { queries: MetricQuery[] }): Promise<Record<string, MetricSample>> {
      const samples = await Promise.all(input.queries.map((q) => instant(q)));
      return Object.fromEntries(samples.map((s) => [s.name, s]));
    },
  };
};
