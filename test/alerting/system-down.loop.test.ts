/**
 * The whole detection loop for P0-1, nothing started by hand: the stack's sandbox API crashes →
 * Prometheus's SystemUnreachable rule (alerts/accubooks.rules.yml, `for:` shortened by
 * STACK_ALERT_TIMING=fast) fires → the stack's Alertmanager → the intake (bearer token from
 * http_config) → P0-1 on the real worker process → restart → health 200 → the alert resolves →
 * Alertmanager's resolved notification reaches the incident (or its follow-up) as information.
 * The hop times go to test-artifacts/alerting-hops.json (the README's figures). The other metric
 * runbooks' loops: metric-runbooks.loop.test.ts, on the same rig (loop-rig.ts).
 */
import { incidentWorkflowId } from '../../client/incidents';
import type { IncidentState } from '../../definitions/types';
import { need } from '../../rig/env';
import { stackApi } from '../../rig/stack-api';
import {
  detected,
  expectResolvedNotification,
  hopsOf,
  quietStart,
  recordHops,
  startLoopRig,
  type LoopRig,
} from './loop-rig';

const api = stackApi();
let loop: LoopRig;

beforeAll(async () => {
  loop = await startLoopRig('loop-p01', { alertRunbooks: { SystemUnreachable: 'P0-1' } });
});

afterAll(async () => {
  await loop?.close();
  await api.healthyAgain();
});

test(
  'a crash is detected by the rule, goes through Alertmanager, and P0-1 restarts the API',
  async () => {
    const container = need('ACCUBOOKS_API_CONTAINER');
    // An earlier suite's crash (or a scrape that timed out under load) may still be pending.
    await api.healthyAgain();
    await quietStart(loop, 'SystemUnreachable', 'P0-1', 60_000);
    const t0 = Date.now();
    const before = await api.crash();

    const { start, episode } = await detected(loop, 'SystemUnreachable', t0, 60_000);
    const handle = loop.rig.client.workflow.getHandle(incidentWorkflowId('P0-1', container));
    const final = (await handle.result()) as IncidentState;
    await api.expectRestartedByP01(final, before);
    expect(final.trigger).toMatchObject({
      source: 'alert',
      alertName: 'SystemUnreachable',
      startedBy: 'alertmanager (receiver accubooks-runbooks)',
      fingerprint: start.alert.event.fingerprint,
      startsAt: start.alert.event.startsAt,
    });
    expect(final.trigger.labels).toMatchObject({ runbook: 'P0-1', severity: 'P0', service: container });

    const resolved = await expectResolvedNotification(loop, final, episode, 60_000);
    expect((await handle.describe()).status.name).toBe('COMPLETED');
    recordHops('P0-1', hopsOf(t0, start, final, 'restart', resolved));
  },
  4 * 60_000,
);
