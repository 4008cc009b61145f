/**
 * The stack's real Alertmanager in front of the intake. Alerts are posted to Alertmanager's v2 API
 * as Prometheus posts them (for targets of their own, so no runbook acts on anything real: no
 * worker runs), and what Alertmanager does with them (grouping, repeats, silences, inhibition,
 * bearer auth from http_config, retries after a 5xx) is checked at the intake and in Temporal.
 * The stack runs with STACK_ALERT_TIMING=fast: group_wait 1s, group_interval 2s, repeat_interval 4s.
 */
import { incidentWorkflowId } from '../../client/incidents';
import { RunbookIdKey } from '../../workflows/search-attributes';
import { uniqueId } from '../../rig/env';
import { waitUntil } from '../../rig/sandbox';
import {
  createSilence,
  waitFor,
  describeReceived,
  expireSilence,
  heldAlerts,
  postAlerts,
  startAlertingRig,
  type AlertingRig,
} from './alertmanager';

const firing = (alertname: string, service: string, runbook: string, startsAt = new Date()) => ({
  labels: { alertname, service, runbook, severity: runbook.slice(0, 2) },
  annotations: { summary: `${alertname} on ${service}`, for: '3s' },
  startsAt: startsAt.toISOString(),
  generatorURL: 'http://prometheus.test/graph',
});

/** Workflows started on the rig's task queue for this runbook and target (visibility may lag). */
async function startedFor(rig: AlertingRig, runbook: string, target: string): Promise<number> {
  const r = await rig.client.workflow.count(
    `TaskQueue = '${rig.taskQueue}' AND ${RunbookIdKey.name} = '${runbook}' AND TargetService = '${target}'`,
  );
  return r.count;
}

let rig: AlertingRig | undefined;
const posted: ReturnType<typeof firing>[] = [];
async function post(alerts: ReturnType<typeof firing>[]) {
  posted.push(...alerts);
  await postAlerts(alerts);
}
afterEach(async () => {
  // Resolve what the test posted, so that Alertmanager does not send it on to the next tests.
  await postAlerts(posted.splice(0).map((a) => ({ ...a, endsAt: new Date().toISOString() })));
  await rig?.close();
  rig = undefined;
});

test('repeat notifications while the alert fires join the one incident; none starts a second', async () => {
  rig = await startAlertingRig('am-repeats');
  const service = uniqueId('am-repeat');
  await post([firing('SystemUnreachable', service, 'P0-1')]);
  // repeat_interval 4s: three notifications of one firing alert take about 10 s.
  await waitFor('three notifications of the alert', () => rig!.of(service).length >= 3, 60_000);
  const got = rig.of(service);
  expect(got.map((r) => r.outcome)).toEqual(['started', ...got.slice(1).map(() => 'joined')]);
  // One alert, one episode: every notification carries the same fingerprint and startsAt.
  expect(new Set(got.map((r) => `${r.alert.event.fingerprint}/${r.alert.event.startsAt}`)).size).toBe(1);
  expect(got[0].alert.trigger.startedBy).toBe('alertmanager (receiver accubooks-runbooks)');
  await waitUntil('visibility', async () => (await startedFor(rig!, 'P0-1', service)) === 1);
  const d = await rig.client.workflow.getHandle(incidentWorkflowId('P0-1', service)).describe();
  expect(d.status.name).toBe('RUNNING');
});

test('a silence created through the Alertmanager API suppresses the start; expiring it lets it through', async () => {
  rig = await startAlertingRig('am-silence');
  const service = uniqueId('am-silenced');
  const silence = await createSilence({ alertname: 'HighLatency', service }, 'planned maintenance (test)');
  await post([firing('HighLatency', service, 'P1-2')]);
  await waitUntil('Alertmanager to mark the alert silenced', async () => {
    const [a] = await heldAlerts({ service });
    return a?.status.state === 'suppressed' && a.status.silencedBy.includes(silence);
  });
  // Several group intervals (2 s) go by: nothing reaches the intake.
  const since = Date.now();
  await waitFor('three group intervals', () => Date.now() - since > 6000);
  expect(rig.of(service)).toEqual([]);
  expect(await startedFor(rig, 'P1-2', service)).toBe(0);

  await expireSilence(silence);
  await waitFor('the start once the silence expired', () =>
    rig!.of(service).some((r) => r.outcome === 'started'),
  );
});

test('inhibition shipped in alerts/alertmanager/: P0-1 firing on a service holds back its P1-1', async () => {
  rig = await startAlertingRig('am-inhibit');
  const down = uniqueId('am-down');
  const other = uniqueId('am-errors');
  await post([
    firing('SystemUnreachable', down, 'P0-1'),
    firing('HighErrorRate', down, 'P1-1'),
    // The same alert on a service that is not down: not inhibited (the rule needs an equal service).
    firing('HighErrorRate', other, 'P1-1'),
  ]);
  await waitFor('P0-1 on the service that is down and P1-1 on the other', () =>
    Boolean(
      rig!.of(down, 'SystemUnreachable').some((r) => r.outcome === 'started') &&
      rig!.of(other, 'HighErrorRate').some((r) => r.outcome === 'started'),
    ),
  );
  const inhibited = (await heldAlerts({ service: down, alertname: 'HighErrorRate' }))[0];
  expect(inhibited.status.state).toBe('suppressed');
  expect(inhibited.status.inhibitedBy.length).toBe(1);
  const since = Date.now();
  await waitFor('three group intervals', () => Date.now() - since > 6000);
  expect(describeReceived(rig.of(down, 'HighErrorRate'))).toBe('');
  expect(await startedFor(rig, 'P1-1', down)).toBe(0);
});

test('bearer auth from http_config: a token the intake does not hold is refused, nothing starts', async () => {
  // The intake listens where Alertmanager sends, but expects another token.
  const { startIntakeRig } = await import('../intake/rig');
  const { need } = await import('../../rig/env');
  const wrong = await startIntakeRig('am-wrong-token', {
    port: Number(need('STACK_INTAKE_PORT')),
    intake: { auth: { bearerToken: 'not-the-token-alertmanager-has-0123' } },
  });
  try {
    const service = uniqueId('am-auth');
    await post([firing('SystemUnreachable', service, 'P0-1')]);
    const unauthorized = async () =>
      (await wrong.metrics.registry.getSingleMetricAsString('accubooks_intake_requests_total')).match(
        /outcome="unauthorized"} (\d+)/,
      )?.[1];
    await waitUntil('Alertmanager to be refused', async () => Number((await unauthorized()) ?? 0) > 0);
    expect(wrong.gateway.calls.fire).toBe(0);
    expect(await wrong.countStarted()).toBe(0);
  } finally {
    await wrong.close();
  }
});

test('an intake 5xx: Alertmanager retries and the retry joins, no duplicate incident', async () => {
  let failOnce = true;
  rig = await startAlertingRig('am-retry', {
    // Temporal started the incident but the answer was lost: the intake answers 503 this once.
    wrap: (g) => ({
      ...g,
      async fire(a) {
        const r = await g.fire(a);
        if (failOnce && a.target.startsWith('am-retry')) {
          failOnce = false;
          throw new Error('injected: the answer from Temporal was lost');
        }
        return r;
      },
    }),
  });
  const service = uniqueId('am-retry');
  await post([firing('SystemUnreachable', service, 'P0-1')]);
  await waitFor('the retry after the 503', () => rig!.of(service).length >= 2, 60_000);
  const [first, retry] = rig.of(service);
  expect(first.outcome).toBe('started');
  expect(retry.outcome).toBe('joined');
  expect(retry.alert.event.fingerprint).toBe(first.alert.event.fingerprint);
  const requests = await rig.metrics.registry.getSingleMetricAsString('accubooks_intake_requests_total');
  expect(requests).toMatch(/outcome="temporal_unavailable"} [1-9]/);
  await waitUntil('visibility', async () => (await startedFor(rig!, 'P0-1', service)) === 1);
  // Later repeats still join: one incident for the one alert.
  await waitFor('one more notification', () => rig!.of(service).length >= 3, 60_000);
  expect(await startedFor(rig, 'P0-1', service)).toBe(1);
});
