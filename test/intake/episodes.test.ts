/**
 * Alert episodes (client/intake/episodes.ts) over the real dev server and a real worker (P0-1 on
 * unknown target names, closed by a person so that each incident ends at once): the alert of a
 * closed incident is recorded on its follow-up, not started again; past the grace it starts a
 * recurrence linked to the closed one; a new episode starts a new incident; IDs never collide.
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { incidentState, incidentWorkflowId } from '../../client/incidents';
import { AlertFolder, type DeliveryOutcome } from '../../client/intake/fold';
import { followUpStateQuery } from '../../definitions/messages';
import { RecurrenceOfKey } from '../../workflows/search-attributes';
import type { FollowUpState, IncidentState } from '../../definitions/types';
import { need, uniqueId } from '../../rig/env';
import { waitUntil } from '../../rig/sandbox';
import { amAlert, amPayload, bearer, startIntakeRig, type IntakeRig } from './rig';

interface Body {
  started: number;
  joined: number;
  recorded?: number;
  ignored: number;
  results: { outcome: string; reason?: string; workflowId?: string }[];
}

let rig: IntakeRig;
beforeAll(async () => {
  rig = await startIntakeRig('intake-episodes', { worker: true });
});
afterAll(async () => {
  await rig?.close();
});

async function post(alert: ReturnType<typeof amAlert>): Promise<Body> {
  const res = await rig.request('/alerts/alertmanager', {
    headers: bearer,
    body: JSON.stringify(amPayload([alert])),
  });
  if (res.status !== 200) throw new Error(`intake answered ${res.status}: ${res.text}`);
  return res.json<Body>();
}

/** Closes the running incident by hand and returns its final state. */
async function closeByHand(workflowId: string): Promise<IncidentState> {
  const handle = rig.client.workflow.getHandle(workflowId);
  await rig.abandonByHand(workflowId, 'closing to test what comes after');
  const final = (await handle.result()) as IncidentState;
  expect(final.status).toBe('abandoned');
  return final;
}

async function followUpOf(state: IncidentState, until: (f: FollowUpState) => boolean) {
  expect(state.followUp?.error).toBeUndefined();
  const handle = rig.client.workflow.getHandle(state.followUp!.workflowId);
  let f: FollowUpState | undefined;
  await waitUntil(`follow-up ${state.followUp!.workflowId}`, async () => {
    f = await handle.query(followUpStateQuery).catch(() => undefined);
    return f !== undefined && until(f);
  });
  return f!;
}

test('the closed incident’s episode is recorded, not started again; past the grace it recurs, linked', async () => {
  const target = uniqueId('abk-episode-nope');
  const workflowId = incidentWorkflowId('P0-1', target);
  // The rule's `for:` of 2 s: the grace is 4 s.
  const alert = amAlert('SystemUnreachable', target, 'firing', {
    annotations: { summary: 'down', value: '0', for: '2s' },
  });

  expect((await post(alert)).started).toBe(1);
  const first = await closeByHand(workflowId);

  // The same episode again, within the grace: recorded on the closed incident, nothing started.
  const again = await post(alert);
  expect(again).toMatchObject({ started: 0, joined: 0, recorded: 1 });
  expect(again.results[0].reason).toMatch(
    new RegExp(`still firing \\d+ s after ${first.incidentId} was resolved .*recorded on its follow-up`),
  );
  // Alertmanager's resolved notification of that episode: recorded too, as information.
  const resolved = await post({ ...alert, status: 'resolved', endsAt: new Date().toISOString() });
  expect(resolved).toMatchObject({ started: 0, recorded: 1 });
  const f = await followUpOf(first, (s) => s.alertAfterClose?.resolved === 1);
  expect(f.alertAfterClose).toMatchObject({ firing: 1, resolved: 1, lastStatus: 'resolved' });
  expect(f.alertAfterClose!.note).toMatch(/^resolved notification \d+ s after resolution$/);
  expect(f.alertAfterClose!.stillFiringAfterMs).toBeGreaterThanOrEqual(0);
  expect(await rig.client.workflow.getHandle(workflowId).describe()).toMatchObject({
    status: { name: 'COMPLETED' },
  });

  // Still firing past the grace (4 s after the close): a recurrence, linked to the closed incident.
  await new Promise((r) =>
    setTimeout(r, Math.max(0, Date.parse(first.mttr.resolvedAt!) + 4500 - Date.now())),
  );
  const recurring = await post(alert);
  expect(recurring.started).toBe(1);
  expect(recurring.results[0].reason).toMatch(new RegExp(`^recurrence of ${first.incidentId}`));
  const handle = rig.client.workflow.getHandle(workflowId);
  const d = await handle.describe();
  expect(d.typedSearchAttributes.get(RecurrenceOfKey)).toBe(first.incidentId);
  expect(await d.staticDetails()).toContain(`**Recurrence of** \`${first.incidentId}\``);
  const second = await incidentState(handle);
  expect(second.trigger.recurrence).toMatchObject({
    incidentId: first.incidentId,
    workflowId,
    graceMs: 4000,
  });
  expect(second.incidentId).not.toBe(first.incidentId);
  // Its MTTR counts from its own detection, not from the alert's start long before.
  expect(second.mttr.detectedAt).toBe(second.trigger.recurrence!.detectedAt);
  expect(Date.parse(second.mttr.detectedAt)).toBeGreaterThan(Date.parse(first.mttr.resolvedAt!));

  // Its follow-up starts (the IDs differ): the old "Workflow execution already started" is gone.
  const secondFinal = await closeByHand(workflowId);
  expect(secondFinal.followUp?.workflowId).not.toBe(first.followUp?.workflowId);
  await followUpOf(secondFinal, (s) => s.incidentId === secondFinal.incidentId);
});

test('a new episode (another startsAt after the resolution) starts a new incident, not a recurrence', async () => {
  const target = uniqueId('abk-episode-new');
  const workflowId = incidentWorkflowId('P0-1', target);
  const episode1 = amAlert('SystemUnreachable', target);
  expect((await post(episode1)).started).toBe(1);
  const first = await closeByHand(workflowId);
  expect((await post({ ...episode1, status: 'resolved', endsAt: new Date().toISOString() })).recorded).toBe(
    1,
  );

  const episode2 = { ...episode1, startsAt: new Date().toISOString() };
  const next = await post(episode2);
  expect(next).toMatchObject({
    started: 1,
    results: [{ reason: 'no incident was running for this runbook and target' }],
  });
  const d = await rig.client.workflow.getHandle(workflowId).describe();
  expect(d.typedSearchAttributes.get(RecurrenceOfKey)).toBeUndefined();
  const s = await incidentState(rig.client.workflow.getHandle(workflowId));
  expect(s.trigger.recurrence).toBeUndefined();
  expect(s.trigger.startsAt).toBe(episode2.startsAt);
  expect(s.incidentId).not.toBe(first.incidentId);
});

/** Counts the intake's calls to Temporal by name (the real calls go through unchanged). */
async function countingCalls<T>(names: string[], fn: () => Promise<T>): Promise<[T, Record<string, number>]> {
  const service = rig.client.workflowService as unknown as Record<string, (...a: unknown[]) => unknown>;
  const calls: Record<string, number> = Object.fromEntries(names.map((n) => [n, 0]));
  const originals = names.map((n) => [n, service[n]] as const);
  for (const [n, original] of originals)
    service[n] = (...a: unknown[]) => {
      calls[n]++;
      return original.apply(service, a);
    };
  try {
    return [await fn(), calls];
  } finally {
    for (const [n, original] of originals) service[n] = original;
  }
}

test('a first alert starts its incident in one call (no describe); a repeat is refused that start, looks, and joins', async () => {
  const names = ['startWorkflowExecution', 'describeWorkflowExecution', 'signalWorkflowExecution'];
  const target = uniqueId('abk-episode-first');
  const alert = amAlert('SystemUnreachable', target);
  const [first, firstCalls] = await countingCalls(names, () => post(alert));
  expect(first.started).toBe(1);
  expect(firstCalls).toEqual({
    startWorkflowExecution: 1,
    describeWorkflowExecution: 0,
    signalWorkflowExecution: 0,
  });

  const [repeat, repeatCalls] = await countingCalls(names, () => post(alert));
  expect(repeat).toMatchObject({ started: 0, joined: 1 });
  expect(repeatCalls).toEqual({
    startWorkflowExecution: 1,
    describeWorkflowExecution: 1,
    signalWorkflowExecution: 1,
  });
  await closeByHand(incidentWorkflowId('P0-1', target));
});

test('a resolution of an episode that never had an incident is ignored and starts nothing', async () => {
  const target = uniqueId('abk-episode-none');
  const r = await post(amAlert('SystemUnreachable', target, 'resolved'));
  expect(r).toMatchObject({ started: 0, joined: 0, ignored: 1 });
  expect(r.results[0].reason).toMatch(/a resolution never starts one/);
});

test('folded (Alertmanager storms through Redis): the closed incident’s episode is recorded, not started', async () => {
  const redis = new Redis(need('REDIS_URL'), { maxRetriesPerRequest: 1 });
  const deliveries: DeliveryOutcome[] = [];
  const folder = new AlertFolder({
    client: rig.client,
    taskQueue: rig.taskQueue,
    redis,
    windowMs: 200,
    prefix: `test:episodes:${randomUUID().slice(0, 8)}`,
    onDelivery: (o) => deliveries.push(o),
  });
  folder.start();
  rig.gateway.fold = folder;
  try {
    const target = uniqueId('abk-episode-fold');
    const workflowId = incidentWorkflowId('P0-1', target);
    const alert = amAlert('SystemUnreachable', target);
    expect((await post(alert)).results[0].outcome).toBe('queued');
    await waitUntil('the folded start', () => Promise.resolve(deliveries.includes('started')));
    const first = await closeByHand(workflowId);

    // Three repeats of the same episode and its resolution, after the close: one delivery, recorded.
    for (const a of [
      alert,
      alert,
      alert,
      { ...alert, status: 'resolved' as const, endsAt: new Date().toISOString() },
    ])
      await post(a);
    await waitUntil('the folded delivery after the close', () =>
      Promise.resolve(deliveries.includes('recorded')),
    );
    expect(deliveries.filter((d) => d === 'started')).toHaveLength(1);
    const f = await followUpOf(first, (s) => s.alertAfterClose?.resolved === 1);
    expect(f.alertAfterClose).toMatchObject({ firing: 3, resolved: 1 });
    expect((await rig.client.workflow.getHandle(workflowId).describe()).status.name).toBe('COMPLETED');
  } finally {
    rig.gateway.fold = undefined;
    await folder.close();
    redis.disconnect();
  }
});
