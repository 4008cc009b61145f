/**
 * One definition of "error rate" and "p95 latency" (definitions/policies/api-queries.ts): the committed
 * alert rules are generated from it, and on the same series Prometheus's own engine (promtool) gives
 * the runbooks' verification queries exactly the alerts' numbers: an alert fires for an instance if
 * and only if that instance's runbook measures it above the same line. The series include what one
 * of them once counted and the other did not: failing health checks (503), the sandbox's fault
 * routes, scrapes, and a forecast worker.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { renderQuery } from '../../activities/prometheus';
import { renderRulesFile, RULES_FILE } from '../../alerts/rules';
import { highErrorRateDefaults as p11 } from '../../definitions/policies/high-error-rate';
import { highLatencyDefaults as p12 } from '../../definitions/policies/high-latency';

const rulesPath = path.join(__dirname, '../../alerts', RULES_FILE);

test('the committed alerts/accubooks.rules.yml is what alerts/rules.ts generates (npm run rules:generate)', () => {
  expect(readFileSync(rulesPath, 'utf8')).toBe(renderRulesFile());
});

/** Counter increments per 15 s scrape, by route and status, for one instance. */
type Traffic = { role: string; requests: [route: string, status: string, per15s: number][] };
/** Histogram bucket increments per 15 s (cumulative buckets le=0.5, 1, 2.5, +Inf), by route. */
type Latency = {
  role: string;
  buckets: [route: string, le05: number, le1: number, le25: number, inf: number][];
};

const traffic: Record<string, Traffic & { expected: number | null }> = {
  // 4 % of user requests fail; health 503s and fault-route 500s must not count.
  'mixed-api': {
    role: 'api',
    requests: [
      ['/api/work', '200', 96],
      ['/api/work', '500', 4],
      ['/api/monitoring/health', '503', 100],
      ['/api/sandbox/faults', '500', 20],
      ['/metrics', '200', 4],
    ],
    expected: 0.04,
  },
  // Users are served; only the health check fails (the old runbook query said 37.5 %).
  'health-failing-api': {
    role: 'api',
    requests: [
      ['/api/work', '200', 100],
      ['/api/monitoring/health', '503', 50],
      ['/api/sandbox/faults', '500', 10],
    ],
    expected: 0,
  },
  // Traffic, and no 5xx series at all: 0, not "no data".
  'clean-api': { role: 'api', requests: [['/api/work', '200', 100]], expected: 0 },
  // Not the API: neither the alert nor the runbook's API error rate counts it.
  'forecast-1': { role: 'forecast-worker', requests: [['/api/work', '500', 100]], expected: null },
};

const latency: Record<string, Latency & { expected: number | null }> = {
  // Users wait 1-2.5 s; a flood of fast health checks must not hide it (the old query said 0.48 s).
  'slow-api': {
    role: 'api',
    buckets: [
      ['/api/work', 0, 0, 20, 20],
      ['/api/monitoring/health', 1000, 1000, 1000, 1000],
    ],
    expected: 2.425,
  },
  // Users are fast; a slow fault route must not count (the old query said 2.35 s).
  'fast-api': {
    role: 'api',
    buckets: [
      ['/api/work', 100, 100, 100, 100],
      ['/api/sandbox/slow', 0, 0, 100, 100],
    ],
    expected: 0.475,
  },
};

const series = (name: string, labels: Record<string, string>, per15s: number) => ({
  series: `${name}{${Object.entries(labels)
    .map(([k, v]) => `${k}="${v}"`)
    .join(',')}}`,
  values: `0+${per15s}x80`,
});

const inputSeries = [
  ...Object.entries(traffic).flatMap(([instance, t]) =>
    t.requests.map(([route, status, n]) =>
      series('http_requests_total', { instance_name: instance, role: t.role, route, status }, n),
    ),
  ),
  ...Object.entries(latency).flatMap(([instance, l]) =>
    l.buckets.flatMap(([route, ...counts]) =>
      ['0.5', '1', '2.5', '+Inf'].map((le, i) =>
        series(
          'http_request_duration_seconds_bucket',
          { instance_name: instance, role: l.role, route, le },
          counts[i],
        ),
      ),
    ),
  ),
];

/** A runbook's query exactly as its activity sends it (policy default, placeholders filled). */
const runbookQuery = (query: string, target: string, window: string) =>
  renderQuery({ query, target, window });

const firing = (alertname: string, instances: string[]) => ({
  expr: `count by (instance_name) (ALERTS{alertname="${alertname}",alertstate="firing"})`,
  eval_time: '7m',
  exp_samples: instances.map((i) => ({ labels: `{instance_name="${i}"}`, value: 1 })),
});

const measured = (query: string, expected: number | null) => ({
  expr: query,
  eval_time: '7m',
  exp_samples: expected === null ? [] : [{ labels: '{}', value: expected }],
});

function promtoolTest(tests: object[]): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'abk-api-queries-'));
  try {
    const file = path.join(dir, 'agree.test.json'); // JSON is YAML
    writeFileSync(
      file,
      JSON.stringify({
        rule_files: [rulesPath],
        evaluation_interval: '15s',
        tests: [{ interval: '15s', input_series: inputSeries, promql_expr_test: tests }],
      }),
    );
    try {
      return execFileSync('promtool', ['test', 'rules', file], { encoding: 'utf8', stdio: 'pipe' });
    } catch (err) {
      const e = err as { stdout?: string; stderr?: string };
      throw new Error(`promtool: ${e.stdout ?? ''}${e.stderr ?? ''}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('error rate: HighErrorRate fires for exactly the instances whose P1-1 verification measures > 1 %', () => {
  const above = Object.entries(traffic)
    .filter(([, t]) => t.expected !== null && t.expected >= p11.detectionErrorRate)
    .map(([i]) => i);
  expect(above).toEqual(['mixed-api']);
  const out = promtoolTest([
    firing('HighErrorRate', above),
    ...Object.entries(traffic).map(([target, t]) =>
      measured(runbookQuery(p11.errorRateQuery, target, p11.rateWindow), t.expected),
    ),
  ]);
  expect(out).toMatch(/SUCCESS/);
});

test('p95 latency: HighLatency fires for exactly the instances whose P1-2 verification measures > 1 s', () => {
  const above = Object.entries(latency)
    .filter(([, l]) => l.expected !== null && l.expected >= p12.detectionP95Seconds)
    .map(([i]) => i);
  expect(above).toEqual(['slow-api']);
  const out = promtoolTest([
    firing('HighLatency', above),
    ...Object.entries(latency).map(([target, l]) =>
      measured(runbookQuery(p12.p95Query, target, p12.rateWindow), l.expected),
    ),
  ]);
  expect(out).toMatch(/SUCCESS/);
});

test('the agreement check is not vacuous: a query that counts health checks disagrees', () => {
  const old =
    '(sum(rate(http_requests_total{instance_name="{{target}}",route!="/metrics",status=~"5.."}[{{window}}])) or vector(0))' +
    ' / sum(rate(http_requests_total{instance_name="{{target}}",route!="/metrics"}[{{window}}]))';
  expect(() => promtoolTest([measured(runbookQuery(old, 'health-failing-api', '1m'), 0)])).toThrow(
    /health-failing-api/,
  );
});
