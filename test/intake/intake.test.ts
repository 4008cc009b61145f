/**
 * The intake over the real dev server: Alertmanager payloads (firing, repeated, resolved, grouped)
 * start or join exactly the right workflows, and a storm of repeats yields one workflow per incident.
 * The first suite runs a real worker (P0-1 against unknown target names: its checks fail fast and
 * nothing real is touched) so the counts in the workflow state are checked; the grouped suite runs
 * no worker at all, so every runbook type can be started without acting on the shared stack.
 */
import { WorkflowNotFoundError } from '@temporalio/common';
import { incidentState, incidentWorkflowId } from '../../client/incidents';
import { signBody } from '../../client/intake/auth';
import { RUNBOOKS } from '../../definitions/catalog';
import { RunbookIdKey, TargetServiceKey } from '../../workflows/search-attributes';
import type { IncidentState } from '../../definitions/types';
import { uniqueId } from '../../rig/env';
import { waitUntil } from '../../rig/sandbox';
import { amAlert, amPayload, bearer, HMAC_SECRET, startIntakeRig, type IntakeRig } from './rig';

interface AlertResultBody {
  outcome: string;
  workflowId?: string;
  reason?: string;
  runbook?: string;
  target?: string;
}
interface IntakeBody {
  started: number;
  joined: number;
  ignored: number;
  results: AlertResultBody[];
}

async function post(rig: IntakeRig, payload: unknown, url = '/alerts/alertmanager') {
  const res = await rig.request(url, { headers: bearer, body: JSON.stringify(payload) });
  return { status: res.status, body: res.json<IntakeBody>() };
}

async function stateOf(rig: IntakeRig, workflowId: string, until: (s: IncidentState) => boolean) {
  let s: IncidentState | undefined;
  await waitUntil(`state of ${workflowId}`, async () => {
    s = await incidentState(rig.client.workflow.getHandle(workflowId)).catch(() => undefined);
    return s !== undefined && until(s);
  });
  return s!;
}

describe('with a worker (P0-1 on unknown targets)', () => {
  let rig: IntakeRig;
  beforeAll(async () => {
    rig = await startIntakeRig('intake-worker', { worker: true });
  });
  afterAll(async () => {
    await rig?.close();
  });

  test('firing starts the incident, a repeat joins and is counted, resolved joins as information only', async () => {
    const target = uniqueId('abk-intake-nope');
    const workflowId = incidentWorkflowId('P0-1', target);

    const first = await post(rig, amPayload([amAlert('SystemUnreachable', target)]));
    expect(first.status).toBe(200);
    expect(first.body.results).toEqual([
      expect.objectContaining({ outcome: 'started', workflowId, runbook: 'P0-1', target }),
    ]);
    const runId = (await rig.client.workflow.getHandle(workflowId).describe()).runId;

    const repeat = await post(rig, amPayload([amAlert('SystemUnreachable', target)]));
    expect(repeat.status).toBe(200);
    expect(repeat.body.results[0]).toMatchObject({ outcome: 'joined', workflowId });
    const afterRepeat = await stateOf(rig, workflowId, (s) => s.alerts.firing === 2);
    expect(afterRepeat.trigger).toMatchObject({ source: 'alert', alertName: 'SystemUnreachable' });

    const resolved = await post(rig, amPayload([amAlert('SystemUnreachable', target, 'resolved')]));
    expect(resolved.body.results[0]).toMatchObject({ outcome: 'joined', workflowId });
    const afterResolved = await stateOf(rig, workflowId, (s) => s.alerts.resolved === 1);
    expect(afterResolved.alerts).toMatchObject({ firing: 2, resolved: 1, lastStatus: 'resolved' });
    // Information only: the incident is neither closed nor started again.
    expect(afterResolved.closedBy).toBeUndefined();
    const d = await rig.client.workflow.getHandle(workflowId).describe();
    expect(d.status.name).toBe('RUNNING');
    expect(d.runId).toBe(runId);
    expect(rig.gateway.calls).toEqual({ fire: 2, resolve: 1 });
  });

  test('a resolved alert with no running incident is ignored and starts nothing', async () => {
    const target = uniqueId('abk-intake-none');
    const res = await post(rig, amPayload([amAlert('SystemUnreachable', target, 'resolved')]));
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ started: 0, joined: 0, ignored: 1 });
    expect(res.body.results[0].reason).toMatch(/never starts/);
    await expect(
      rig.client.workflow.getHandle(incidentWorkflowId('P0-1', target)).describe(),
    ).rejects.toBeInstanceOf(WorkflowNotFoundError);
  });

  test('a storm of repeats yields one workflow per incident, every firing counted', async () => {
    const targets = [1, 2, 3].map(() => uniqueId('abk-storm'));
    const perTarget = 15;
    const responses = await Promise.all(
      targets.flatMap((t) =>
        Array.from({ length: perTarget }, () => post(rig, amPayload([amAlert('SystemUnreachable', t)]))),
      ),
    );
    expect(responses.every((r) => r.status === 200)).toBe(true);
    for (const t of targets) {
      const outcomes = responses.map((r) => r.body.results[0]).filter((r) => r.target === t);
      expect(outcomes.filter((o) => o.outcome === 'started')).toHaveLength(1);
      expect(outcomes.filter((o) => o.outcome === 'joined')).toHaveLength(perTarget - 1);
      const s = await stateOf(rig, incidentWorkflowId('P0-1', t), (x) => x.alerts.firing >= perTarget);
      expect(s.alerts.firing).toBe(perTarget);
    }
    const query = targets.map((t) => `WorkflowId = '${incidentWorkflowId('P0-1', t)}'`).join(' OR ');
    await waitUntil('visibility to list the storm', async () => {
      const n = (await rig.client.workflow.count(`TaskQueue = '${rig.taskQueue}' AND (${query})`)).count;
      return n === targets.length;
    });
    // And never more: one run per incident, however long we look.
    await new Promise((r) => setTimeout(r, 1000));
    expect((await rig.client.workflow.count(`TaskQueue = '${rig.taskQueue}' AND (${query})`)).count).toBe(3);
  });

  test('the simple JSON endpoint with an HMAC signature starts an incident by runbook ID', async () => {
    const target = uniqueId('abk-simple');
    const body = JSON.stringify({
      runbook: 'P0-1',
      target,
      description: 'support saw the API time out',
      startedBy: 'support desk',
      values: { reports: 3 },
    });
    const res = await rig.request('/alerts', {
      headers: { 'content-type': 'application/json', 'x-signature-256': signBody(HMAC_SECRET, body) },
      body,
    });
    expect(res.status).toBe(200);
    expect(res.json<IntakeBody>().results[0]).toMatchObject({ outcome: 'started', runbook: 'P0-1', target });
    const s = await stateOf(rig, incidentWorkflowId('P0-1', target), () => true);
    expect(s.trigger).toMatchObject({
      description: 'support saw the API time out',
      startedBy: 'support desk',
      values: { reports: 3 },
    });
    expect(s.alerts.firing).toBe(1);
  });

  test('health, readiness and metrics endpoints', async () => {
    expect((await rig.request('/healthz', { method: 'GET' })).status).toBe(200);
    const ready = await rig.request('/readyz', { method: 'GET' });
    expect(ready.status).toBe(200);
    expect(ready.json()).toEqual({ status: 'ok', temporal: 'ok' });
    await rig.request('/alerts/alertmanager', { body: '{}', headers: bearer });
    const m = await rig.request('/metrics', { method: 'GET' });
    expect(m.status).toBe(200);
    expect(m.text).toMatch(
      /accubooks_intake_requests_total\{endpoint="\/alerts\/alertmanager",outcome="ok"\} \d+/,
    );
    expect(m.text).toMatch(
      /accubooks_intake_requests_total\{endpoint="\/alerts\/alertmanager",outcome="invalid"\} 1/,
    );
    expect(m.text).toMatch(
      /accubooks_intake_request_duration_seconds_bucket\{le="0\.1",endpoint="\/alerts\/alertmanager"\}/,
    );
    expect(m.text).toMatch(/accubooks_intake_alerts_total\{runbook="P0-1",outcome="started"\} \d+/);
  });
  test('links that are not plain http(s) URLs are dropped and named, the alert still starts; truncatedAlerts is answered', async () => {
    const target = uniqueId('abk-intake-links');
    const workflowId = incidentWorkflowId('P0-1', target);
    const payload = {
      ...amPayload([amAlert('SystemUnreachable', target, 'firing', { generatorURL: 'javascript:alert(1)' })]),
      externalURL: 'http://user:secret@alertmanager.local',
      truncatedAlerts: 3,
    };
    const res = await rig.request('/alerts/alertmanager', { headers: bearer, body: JSON.stringify(payload) });
    expect(res.status).toBe(200);
    const body = res.json<IntakeBody & { truncatedAlerts: number; warning: string }>();
    expect(body).toMatchObject({ started: 1, truncatedAlerts: 3 });
    expect(body.warning).toMatch(/left 3 alert\(s\) out of this notification/);
    expect(body.results[0]).toMatchObject({
      outcome: 'started',
      linksDropped: ['generatorURL: not an http(s) URL', 'externalURL: no host, or credentials in the URL'],
    });
    const s = await stateOf(rig, workflowId, () => true);
    expect(s.trigger.generatorURL).toBeUndefined();
    expect(s.trigger.externalURL).toBeUndefined();
    expect(s.trigger.truncatedAlerts).toBe(3);
    expect(s.alerts.truncated).toMatchObject({ notifications: 1, latestAlerts: 3 });
    expect(JSON.stringify(s)).not.toContain('secret@');
  });
});

describe('grouped payloads (no worker: workflows are started and signalled, never run)', () => {
  let rig: IntakeRig;
  beforeAll(async () => {
    rig = await startIntakeRig('intake-grouped');
  });
  afterAll(async () => {
    await rig?.close();
  });

  test('one grouped payload starts each runbook once, joins repeats, ignores a stray resolution', async () => {
    const names = Object.entries({
      SystemUnreachable: 'P0-1',
      DatabasePoolExhaustion: 'P0-2',
      BillingError: 'P0-3',
      DataIntegrityViolation: 'P0-4',
      HighErrorRate: 'P1-1',
      HighLatency: 'P1-2',
      QueueOverflow: 'P1-3',
    } as const);
    const target = uniqueId('abk-group');
    const stray = uniqueId('abk-group-stray');
    const alerts = [
      ...names.map(([n]) => amAlert(n, target)),
      amAlert('SystemUnreachable', target, 'firing', { fingerprint: 'second-instance' }),
      amAlert('HighErrorRate', stray, 'resolved'),
    ];
    const res = await post(rig, amPayload(alerts));
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ started: 7, joined: 1, ignored: 1 });
    expect(res.body.results.map((r) => r.outcome)).toEqual([
      ...names.map(() => 'started'),
      'joined',
      'ignored',
    ]);

    const runIds: Record<string, string> = {};
    for (const [, runbook] of names) {
      const d = await rig.client.workflow.getHandle(incidentWorkflowId(runbook, target)).describe();
      expect(d.type).toBe(RUNBOOKS[runbook].workflowType);
      expect(d.taskQueue).toBe(rig.taskQueue);
      expect(d.typedSearchAttributes.get(RunbookIdKey)).toBe(runbook);
      expect(d.typedSearchAttributes.get(TargetServiceKey)).toBe(target);
      runIds[runbook] = d.runId;
    }

    // The same group again (Alertmanager's repeat): every firing joins, nothing new starts.
    const again = await post(rig, amPayload(alerts));
    expect(again.body).toMatchObject({ started: 0, joined: 8, ignored: 1 });
    for (const [, runbook] of names) {
      const d = await rig.client.workflow.getHandle(incidentWorkflowId(runbook, target)).describe();
      expect(d.runId).toBe(runIds[runbook]);
    }
    // The joins are in the history as alert signals: P0-1 was fired 4 times = its trigger + 3 signals.
    const history = await rig.client.workflow.getHandle(incidentWorkflowId('P0-1', target)).fetchHistory();
    const signals = (history.events ?? []).filter(
      (e) => e.workflowExecutionSignaledEventAttributes?.signalName === 'alert',
    );
    expect(signals).toHaveLength(3);
    await expect(
      rig.client.workflow.getHandle(incidentWorkflowId('P1-1', stray)).describe(),
    ).rejects.toBeInstanceOf(WorkflowNotFoundError);
  });
});
