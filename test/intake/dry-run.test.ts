/**
 * `POST /alerts?dryRun=1`: the alert starts a dry run of its own (workflows/dry-run.ts), never folded
 * into the real incident of the same runbook and target, nor the real incident's alerts into it.
 */
import { incidentState, incidentWorkflowId } from '../../client/incidents';
import { stateQuery } from '../../definitions/messages';
import type { IncidentState } from '../../definitions/types';
import { DryRunKey } from '../../workflows/search-attributes';
import { uniqueId } from '../../rig/env';
import { waitUntil } from '../../rig/sandbox';
import { bearer, startIntakeRig, type IntakeRig } from './rig';

let rig: IntakeRig;
beforeAll(async () => {
  rig = await startIntakeRig('intake-dryrun', { worker: true });
});
afterAll(async () => {
  await rig?.close();
});

const post = (query: string, target: string) =>
  rig.request(`/alerts${query}`, {
    headers: bearer,
    body: JSON.stringify({ alertName: 'SystemUnreachable', target, status: 'firing' }),
  });

test('a dry-run alert starts its own dry run; real alerts for the same target join the real incident only', async () => {
  const target = uniqueId('abk-intake-dry');
  const realId = incidentWorkflowId('P0-1', target);

  const real = await post('', target);
  expect(real.status).toBe(200);
  expect(real.json<{ results: { workflowId: string; outcome: string }[] }>().results[0]).toMatchObject({
    workflowId: realId,
    outcome: 'started',
  });

  const dry = await post('?dryRun=1', target);
  expect(dry.status).toBe(200);
  const dryBody = dry.json<{ dryRun: boolean; results: { workflowId: string; outcome: string }[] }>();
  expect(dryBody.dryRun).toBe(true);
  const dryId = dryBody.results[0].workflowId;
  expect(dryId).toMatch(/^dryrun-P0-1-/);
  expect(dryId).not.toBe(realId);

  // Another real firing joins the real incident, never the dry run.
  const again = await post('', target);
  expect(again.json<{ results: { workflowId: string; outcome: string }[] }>().results[0]).toMatchObject({
    workflowId: realId,
    outcome: 'joined',
  });
  const dryHandle = rig.client.workflow.getHandle(dryId);
  const plan = (await dryHandle.result()) as IncidentState;
  expect(plan.status).toBe('planned');
  expect(plan.incidentId).toMatch(/^DRYRUN-/);
  expect(plan.alerts.firing).toBe(1);
  // The restart is planned, the health check after it assumed (the plan follows the success path).
  expect(plan.dryRun?.plan.map((a) => a.kind)).toEqual(['restart', 'verify']);
  expect(plan.dryRun?.end).toMatch(/^the real run would end here, resolved: /);
  expect((await dryHandle.describe()).typedSearchAttributes.get(DryRunKey)).toBe('true');

  let realState: IncidentState | undefined;
  await waitUntil('the real incident to count both firings', async () => {
    realState = await incidentState(rig.client.workflow.getHandle(realId)).catch(() => undefined);
    return realState?.alerts.firing === 2;
  });
  expect(realState!.dryRun).toBeUndefined();
  expect(
    (await rig.client.workflow.getHandle(realId).describe()).typedSearchAttributes.get(DryRunKey),
  ).toBeUndefined();
  expect((await rig.client.workflow.getHandle(realId).query(stateQuery)).incidentId).not.toMatch(/^DRYRUN-/);
  await rig.abandonByHand(realId, 'test finished');
}, 120_000);

test('dryRun must be 1/true or 0/false: anything else is refused and starts nothing', async () => {
  const res = await post('?dryRun=maybe', uniqueId('abk-intake-dry'));
  expect(res.status).toBe(400);
  expect(res.json<{ message: string }>().message).toMatch(/dryRun="maybe": use dryRun=1/);
});
