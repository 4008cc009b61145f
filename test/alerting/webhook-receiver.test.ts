/**
 * Webhook receiver settings of a real Alertmanager that the stack's does not use, on an Alertmanager
 * of this file's own (startOwnAlertmanager) in front of an intake with basic auth:
 *   - grouping across targets (group_by alertname only): one notification, one incident per target;
 *   - `max_alerts`: the alerts left out (`truncatedAlerts`) are said in the log, the metrics and on
 *     every incident the notification reached, never silently lost;
 *   - `basic_auth` from http_config: accepted; a wrong password refused, nothing started;
 *   - `externalURL` and each alert's `generatorURL` kept on the incident and shown (state, current
 *     details, report).
 * A worker runs on the rig's queue so the incidents answer queries; their targets are unknown names.
 */
import { writeFileSync } from 'node:fs';
import { generateIncidentReport } from '../../common/report/index';
import type { IncidentState } from '../../definitions/types';
import { stateQuery } from '../../definitions/messages';
import { uniqueId } from '../../rig/env';
import { waitUntil } from '../../rig/sandbox';
import { currentDetails } from '../observability/watch';
import {
  postAlerts,
  startAlertingRig,
  startOwnAlertmanager,
  waitFor,
  type AlertingRig,
  type OwnAlertmanager,
} from './alertmanager';

const USER = 'alertmanager';
const PASSWORD = 'basic-auth-password-0123456789';
const GENERATOR = (service: string) =>
  `http://prometheus.test:9090/graph?g0.expr=${encodeURIComponent(`up{service="${service}"} == 0`)}`;

let rig: AlertingRig;
let am: OwnAlertmanager;
const logLines: Record<string, unknown>[] = [];

beforeAll(async () => {
  rig = await startAlertingRig('am-receiver', {
    ownPort: true,
    worker: true,
    intake: {
      auth: { basic: { username: USER, password: PASSWORD } },
      logger: { level: 'info', stream: { write: (l: string) => logLines.push(JSON.parse(l)) } },
    },
  });
  const webhook = (extra: string, password = `password_file: ${'@@FILE@@'}`) => `
      - url: ${rig.url}/alerts/alertmanager
        send_resolved: true${extra}
        http_config:
          basic_auth:
            username: ${USER}
            ${password}`;
  am = await startOwnAlertmanager((dir) => {
    const file = `${dir}/intake-password`;
    writeFileSync(file, PASSWORD, { mode: 0o600 });
    return `
route:
  receiver: default
  # alertname only: alerts of several targets share one notification.
  group_by: ['alertname']
  group_wait: 1s
  group_interval: 2s
  repeat_interval: 1h
  routes:
    - { receiver: grouped, matchers: ['case = "grouped"'] }
    - { receiver: truncated, matchers: ['case = "truncated"'] }
    - { receiver: wrong-password, matchers: ['case = "wrong-password"'] }
receivers:
  - name: default
  - name: grouped
    webhook_configs:${webhook('').replace('@@FILE@@', file)}
  - name: truncated
    webhook_configs:${webhook('\n        max_alerts: 2').replace('@@FILE@@', file)}
  - name: wrong-password
    webhook_configs:${webhook('', 'password: not-the-intake-password-0123')}
`;
  });
});

afterAll(async () => {
  await am?.close();
  await rig?.close();
});

const firing = (alertname: string, service: string, kase: string, runbook: string) => ({
  labels: { alertname, service, runbook, severity: runbook.slice(0, 2), case: kase },
  annotations: { summary: `${alertname} on ${service}` },
  startsAt: new Date().toISOString(),
  generatorURL: GENERATOR(service),
});

const requestsOk = async () =>
  Number(
    (await rig.metrics.registry.getSingleMetricAsString('accubooks_intake_requests_total')).match(
      /endpoint="\/alerts\/alertmanager",outcome="ok"} (\d+)/,
    )?.[1] ?? 0,
  );

async function stateOf(workflowId: string): Promise<IncidentState> {
  let s: IncidentState | undefined;
  await waitUntil(`the state of ${workflowId}`, async () => {
    s = await rig.client.workflow
      .getHandle(workflowId)
      .query(stateQuery)
      .catch(() => undefined);
    return s !== undefined;
  });
  return s!;
}

test('one notification with alerts of three targets: each target its own incident; links kept and shown', async () => {
  const services = [1, 2, 3].map(() => uniqueId('am-group'));
  const okBefore = await requestsOk();
  await postAlerts(
    services.map((s) => firing('HighLatency', s, 'grouped', 'P1-2')),
    am.url,
  );
  await waitFor('an incident started for each target', () =>
    services.every((s) => rig.of(s).some((r) => r.outcome === 'started')),
  );
  // One group, one notification (basic auth accepted): the three came in one request.
  expect(await requestsOk()).toBe(okBefore + 1);
  const ids = services.map((s) => rig.of(s)[0].alert.workflowId);
  expect(new Set(ids).size).toBe(3);

  for (const [i, service] of services.entries()) {
    const s = await stateOf(ids[i]);
    expect(s.target).toBe(service);
    expect(s.trigger.generatorURL).toBe(GENERATOR(service));
    expect(s.trigger.externalURL).toBe(am.url);
  }
  const handle = rig.client.workflow.getHandle(ids[0]);
  let details = '';
  await waitUntil('the current details to show the links', async () => {
    details = await currentDetails(handle).catch(() => '');
    return details.includes('**Alert links**');
  });
  expect(details).toContain(`[rule in Prometheus](<${GENERATOR(services[0])}>)`);
  expect(details).toContain(`[Alertmanager](<${am.url}>)`);
  const report = await generateIncidentReport(rig.client, ids[0]);
  expect(report).toContain(`- Rule in Prometheus: <${GENERATOR(services[0])}>`);
  expect(report).toContain(`- Alertmanager: <${am.url}>`);
});

test('max_alerts: the alerts Alertmanager left out are said in the log, the metrics and on the incidents', async () => {
  const services = [1, 2, 3, 4].map(() => uniqueId('am-trunc'));
  await postAlerts(
    services.map((s) => firing('HighErrorRate', s, 'truncated', 'P1-1')),
    am.url,
  );
  // max_alerts 2: two of the four reach the intake, in one notification that says 2 were left out.
  await waitFor(
    'two incidents started',
    () => services.filter((s) => rig.of(s).some((r) => r.outcome === 'started')).length === 2,
  );
  const reached = services.filter((s) => rig.of(s).length > 0);
  expect(reached).toHaveLength(2);
  for (const s of reached) expect(rig.of(s)[0].alert.event.truncatedAlerts).toBe(2);

  const metric = await rig.metrics.registry.getSingleMetricAsString(
    'accubooks_intake_truncated_alerts_total',
  );
  expect(metric).toMatch(/accubooks_intake_truncated_alerts_total 2$/m);
  const warned = logLines.find((l) => l.truncatedAlerts === 2);
  expect(warned).toMatchObject({ level: 40, delivered: 2 });
  expect(warned!.msg).toMatch(/left alerts out of this notification/);

  for (const service of reached) {
    const id = rig.of(service)[0].alert.workflowId;
    const s = await stateOf(id);
    expect(s.trigger.truncatedAlerts).toBe(2);
    expect(s.alerts.truncated).toMatchObject({ notifications: 1, latestAlerts: 2 });
    let details = '';
    await waitUntil('the current details to say alerts were left out', async () => {
      details = await currentDetails(rig.client.workflow.getHandle(id)).catch(() => '');
      return details.includes('Alerts left out by Alertmanager');
    });
    expect(details).toMatch(/\*\*Alerts left out by Alertmanager\*\* 2 in the latest of 1 truncated/);
  }
});

test('basic auth with a wrong password is refused: nothing starts', async () => {
  const service = uniqueId('am-basic');
  const unauthorized = async () =>
    Number(
      (await rig.metrics.registry.getSingleMetricAsString('accubooks_intake_requests_total')).match(
        /outcome="unauthorized"} (\d+)/,
      )?.[1] ?? 0,
    );
  const before = await unauthorized();
  await postAlerts([firing('HighLatency', service, 'wrong-password', 'P1-2')], am.url);
  await waitUntil('Alertmanager to be refused', async () => (await unauthorized()) > before);
  expect(rig.received.filter((r) => r.alert.target === service)).toEqual([]);
  const started = await rig.client.workflow.count(
    `TaskQueue = '${rig.taskQueue}' AND TargetService = '${service}'`,
  );
  expect(started.count).toBe(0);
  expect(logLines.some((l) => JSON.stringify(l).includes('not-the-intake-password'))).toBe(false);
});
