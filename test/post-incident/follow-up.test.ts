/**
 * The post-incident follow-up on the time-skipping server, with real activities: a real P0-1
 * incident (private sandbox container) resolves and hands off; the follow-up drafts the report to
 * the owners, reminds before 24 h, escalates the missing report at 24 h and the missing post-mortem
 * at 48 h, keeps waiting, and closes once all three duties are done. Pages and the owners' emails
 * land on real HTTP receivers (PagerDuty, and the chat copy every email gets).
 */
import { Worker } from '@temporalio/worker';
import type { WorkflowHandle } from '@temporalio/client';
import { postIncident, systemDown } from '../../workflows';
import {
  followUpStateQuery,
  postMortemFiledSignal,
  reportFiledSignal,
  runbookUpdateSignal,
} from '../../definitions/messages';
import { FollowUpDutiesKey, FollowUpOverdueKey, IncidentStatusKey } from '../../workflows/search-attributes';
import type { FollowUpState, IncidentState } from '../../definitions/types';
import { createIncidentMetrics } from '../../worker/metrics';
import { startHealthServer } from '../../worker/health-server';
import { startIncidentRig, type IncidentRig } from '../../rig/incident-rig';
import { uniqueId } from '../../rig/env';
import { freePort, waitUntil } from '../../rig/sandbox';

let rig: IncidentRig;
const HOUR = 60 * 60_000;
let worker: Worker;
const metrics = createIncidentMetrics();

beforeAll(async () => {
  rig = await startIncidentRig({
    name: 'followup',
    pagerDutyRoutingKey: 'test-routing-key',
    chatHook: 'owners',
  });
  ({ worker } = await rig.startWorker({ worker: { metrics } }));
});

afterAll(async () => {
  await rig?.close();
});

const chat = (text: string) =>
  rig.slack.requests.filter((r) => typeof r.body.text === 'string' && r.body.text.includes(text));
const pagesFor = (dedup: string) =>
  rig.pagerDuty.requests.filter((r) => (r.body as { dedup_key?: string }).dedup_key === dedup);

/** Sleeps (skipping time) until `ms` after the incident resolved. */
async function sleepUntil(resolvedAt: string, ms: number): Promise<void> {
  const left = Date.parse(resolvedAt) + ms - (await rig.env.currentTimeMs());
  if (left > 0) await rig.env.sleep(left);
}

async function followUpState(handle: WorkflowHandle): Promise<FollowUpState> {
  return handle.query(followUpStateQuery);
}

const closedIncident = (nowMs: number): IncidentState => {
  const at = new Date(nowMs).toISOString();
  return {
    incidentId: uniqueId('P1-1'),
    runbook: 'P1-1',
    title: 'P1-1 High error rate: accubooks-api',
    severity: 'P1',
    target: 'accubooks-api',
    status: 'resolved',
    currentStep: 'resolved',
    trigger: { source: 'alert', alertName: 'HighErrorRate', values: { error_rate: 0.03 } },
    steps: [],
    checks: {},
    escalations: [],
    alerts: { firing: 1, resolved: 1 },
    mttr: { detectedAt: at, remediationStartedAt: at, resolvedAt: at, targetMs: 4 * HOUR, breached: false },
    decisions: [],
    failing: {},
    outcome: 'error rate back under 1%',
  };
};

test('duties filed in time close the follow-up with no reminder or page; bad signals are refused and recorded; a needed runbook change stays open until linked', async () => {
  const pagesBefore = rig.pagerDuty.requests.length;
  const incident = closedIncident(await rig.env.currentTimeMs());
  const handle = await rig.env.client.workflow.start(postIncident, {
    taskQueue: rig.taskQueue,
    workflowId: uniqueId('wf-followup-direct'),
    args: [{ incident, incidentWorkflowId: 'incident-P1-1-accubooks-api' }],
  });
  await waitUntil('the draft report to be sent', async () => (await followUpState(handle)).status === 'open');
  // The draft went to the policy's default owners (no owners were handed over).
  expect((await followUpState(handle)).owners).toEqual(['incident-owners@accubooks.local']);

  await handle.signal(reportFiledSignal, { link: '', author: 'sam' });
  await handle.signal(reportFiledSignal, { link: 'https://wiki.accubooks.test/ir/2', author: 'sam' });
  await handle.signal(reportFiledSignal, { link: 'https://wiki.accubooks.test/ir/again', author: 'kim' });
  await handle.signal(runbookUpdateSignal, {
    needed: true,
    note: 'add a Redis check before restart',
    by: 'sam',
  });
  await rig.env.sleep(2 * HOUR);
  await handle.signal(postMortemFiledSignal, { link: 'https://wiki.accubooks.test/pm/2', author: 'kim' });
  let s = await followUpState(handle);
  expect(s.duties['runbook-update']).toMatchObject({ status: 'open', needed: true });
  expect(s.status).toBe('open');
  expect((await handle.describe()).typedSearchAttributes.get(FollowUpDutiesKey)).toEqual(['runbook-update']);

  await handle.signal(runbookUpdateSignal, {
    needed: true,
    note: 'Redis check added',
    by: 'sam',
    link: 'https://git.accubooks.test/runbooks/pull/7',
  });
  s = await handle.result();
  expect(s.status).toBe('closed');
  expect(s.duties['incident-report']).toMatchObject({ link: 'https://wiki.accubooks.test/ir/2', by: 'sam' });
  expect(s.duties['runbook-update']).toMatchObject({
    status: 'done',
    needed: true,
    link: 'https://git.accubooks.test/runbooks/pull/7',
  });
  expect(s.refused.map((r) => r.signal)).toEqual(['reportFiled', 'reportFiled']);
  expect(s.refused[0].reason).toContain('"link" and "author"');
  expect(s.refused[1].reason).toContain('already filed');
  expect(s.reminders).toHaveLength(0);
  expect(s.escalations).toHaveLength(0);
  expect(rig.pagerDuty.requests.length).toBe(pagesBefore);
});

test('"runbook update if needed" is due with the post-mortem (48 h): shown in the draft and the follow-up, reminded at 40 h, escalated at 48 h while a needed change is not linked', async () => {
  const incident = closedIncident(await rig.env.currentTimeMs());
  const resolvedAt = incident.mttr.resolvedAt!;
  const handle = await rig.env.client.workflow.start(postIncident, {
    taskQueue: rig.taskQueue,
    workflowId: uniqueId('wf-followup-runbook-update'),
    args: [{ incident, incidentWorkflowId: 'incident-P1-1-accubooks-api' }],
  });
  await waitUntil('the draft report to be sent', async () => (await followUpState(handle)).status === 'open');
  let s = await followUpState(handle);
  const due = new Date(Date.parse(resolvedAt) + 48 * HOUR).toISOString();
  expect(s.duties['runbook-update']).toMatchObject({ status: 'open', dueAt: due, overdue: false });
  const draft = rig.slack.requests
    .map((r) => r.body.text)
    .find((t): t is string => typeof t === 'string' && t.includes(`follow-up-${incident.incidentId}`));
  expect(draft).toContain(`Runbook update decision due ${due}: signal "runbookUpdate"`);

  // Report and post-mortem on time; the runbook change is judged needed but not made yet.
  await handle.signal(reportFiledSignal, { link: 'https://wiki.accubooks.test/ir/3', author: 'ana' });
  await handle.signal(postMortemFiledSignal, { link: 'https://wiki.accubooks.test/pm/3', author: 'ana' });
  await handle.signal(runbookUpdateSignal, { needed: true, note: 'check Redis before restart', by: 'ana' });
  await sleepUntil(resolvedAt, 39 * HOUR);
  s = await followUpState(handle);
  expect(s.reminders).toHaveLength(0);
  expect(s.duties['runbook-update']).toMatchObject({ status: 'open', needed: true });

  await sleepUntil(resolvedAt, 40 * HOUR + 60_000);
  s = await followUpState(handle);
  expect(s.reminders.map((r) => r.duty)).toEqual(['runbook-update']);
  expect(s.reminders[0].delivered).toEqual(['slack']);
  expect(s.escalations).toHaveLength(0);

  await sleepUntil(resolvedAt, 48 * HOUR - 60_000);
  expect((await followUpState(handle)).escalations).toHaveLength(0);
  await sleepUntil(resolvedAt, 48 * HOUR + 60_000);
  s = await followUpState(handle);
  expect(s.escalations).toHaveLength(1);
  expect(s.escalations[0].reason).toBe(
    `Runbook update for ${incident.incidentId} decided as needed, but no change linked by ${due}`,
  );
  expect(s.escalations[0].delivered.sort()).toEqual(['pagerduty', 'slack']);
  expect(s.duties['runbook-update'].overdue).toBe(true);
  expect(pagesFor(`${incident.incidentId}/follow-up-runbook-update-overdue`)).toHaveLength(1);
  expect(s.status).toBe('open');
  expect((await handle.describe()).typedSearchAttributes.get(FollowUpOverdueKey)).toBe(true);

  // Linking the change closes it.
  await handle.signal(runbookUpdateSignal, {
    needed: true,
    note: 'Redis check added',
    by: 'ana',
    link: 'https://git.accubooks.test/runbooks/pull/9',
  });
  s = await handle.result();
  expect(s.status).toBe('closed');
  expect(s.duties['runbook-update']).toMatchObject({ status: 'done', overdue: true });
});

// Runs last: on the time-skipping server, a child that completes after its parent closed leaves
// time skipping locked for later sleeps in the same environment.
test('a resolved incident hands off to a follow-up: draft at once, reminder before 24 h, report escalation at 24 h, post-mortem escalation at 48 h; filing closes it', async () => {
  const incidentWorkflowId = uniqueId('wf-followup-incident');
  const incident: IncidentState = await rig.env.client.workflow.execute(systemDown, {
    taskQueue: rig.taskQueue,
    workflowId: incidentWorkflowId,
    args: [
      {
        incidentId: uniqueId('P0-1'),
        target: rig.sandbox.name,
        trigger: { source: 'alert', alertName: 'SystemUnreachable', values: { up: 0 } },
        followUp: { owners: ['owner@accubooks.test'] },
      },
    ],
  });
  expect(incident.status).toBe('resolved');
  expect(incident.followUp?.workflowId).toBe(`follow-up-${incident.incidentId}`);
  expect(incident.followUp?.startedAt).toBeDefined();
  const resolvedAt = incident.mttr.resolvedAt!;

  // The follow-up outlives the incident (ABANDON) and drafts the report at once.
  const handle = rig.env.client.workflow.getHandle(incident.followUp!.workflowId);
  await waitUntil('the draft report to be sent', async () => (await followUpState(handle)).status === 'open');
  let s = await followUpState(handle);
  expect(s.incidentWorkflowId).toBe(incidentWorkflowId);
  expect(s.owners).toEqual(['owner@accubooks.test']);
  expect(s.draft?.delivered).toEqual(['slack']);
  expect(s.duties['incident-report'].dueAt).toBe(new Date(Date.parse(resolvedAt) + 24 * HOUR).toISOString());
  expect(s.duties['post-mortem'].dueAt).toBe(new Date(Date.parse(resolvedAt) + 48 * HOUR).toISOString());
  expect(s.duties['runbook-update'].dueAt).toBe(new Date(Date.parse(resolvedAt) + 48 * HOUR).toISOString());
  const draft = chat(`Incident report draft: ${incident.title}`)[0]?.body.text as string;
  expect(draft).toContain(`# Incident report: ${incident.title}`);
  expect(draft).toContain('1. Check health');
  expect(draft).toContain('reportFiled');
  const described = await handle.describe();
  expect(described.typedSearchAttributes.get(IncidentStatusKey)).toBe('follow-up');
  expect(described.typedSearchAttributes.get(FollowUpDutiesKey)).toEqual([
    'incident-report',
    'post-mortem',
    'runbook-update',
  ]);

  // No reminder yet at 19 h; the reminder comes before the deadline (at 20 h), no page.
  await sleepUntil(resolvedAt, 19 * HOUR);
  expect((await followUpState(handle)).reminders).toHaveLength(0);
  await sleepUntil(resolvedAt, 20 * HOUR + 60_000);
  s = await followUpState(handle);
  expect(s.reminders.map((r) => r.duty)).toEqual(['incident-report']);
  expect(s.escalations).toHaveLength(0);
  expect(chat('Reminder: incident report')).toHaveLength(1);

  // Just before 24 h: still no escalation. At 24 h: the tier is paged, and it keeps waiting.
  await sleepUntil(resolvedAt, 24 * HOUR - 60_000);
  expect((await followUpState(handle)).escalations).toHaveLength(0);
  await sleepUntil(resolvedAt, 24 * HOUR + 60_000);
  s = await followUpState(handle);
  expect(s.escalations).toHaveLength(1);
  expect(s.escalations[0].reason).toContain('Incident report');
  expect(s.escalations[0].delivered.sort()).toEqual(['pagerduty', 'slack']);
  expect(Date.parse(s.escalations[0].at) - Date.parse(resolvedAt)).toBeGreaterThanOrEqual(24 * HOUR);
  expect(s.duties['incident-report'].overdue).toBe(true);
  expect(s.status).toBe('open');
  expect(pagesFor(`${incident.incidentId}/follow-up-incident-report-overdue`)).toHaveLength(1);
  expect((await handle.describe()).typedSearchAttributes.get(FollowUpOverdueKey)).toBe(true);

  // The report is filed late; the post-mortem still has its own clock: reminder at 40 h, page at 48 h.
  await handle.signal(reportFiledSignal, { link: 'https://wiki.accubooks.test/ir/1', author: 'dana' });
  await sleepUntil(resolvedAt, 40 * HOUR + 60_000);
  s = await followUpState(handle);
  expect(s.duties['incident-report']).toMatchObject({ status: 'done', by: 'dana' });
  // The runbook update decision shares the post-mortem's clock (nothing recorded yet).
  // (The two reminders due at 40 h are sent side by side: their order is not fixed.)
  expect(s.reminders[0].duty).toBe('incident-report');
  expect(s.reminders.map((r) => r.duty).sort()).toEqual(['incident-report', 'post-mortem', 'runbook-update']);
  expect(s.escalations).toHaveLength(1);
  await sleepUntil(resolvedAt, 48 * HOUR + 60_000);
  s = await followUpState(handle);
  expect(s.escalations).toHaveLength(3);
  // Both pages at 48 h are sent side by side: their order is not fixed.
  const late = s.escalations.slice(1).map((e) => e.reason);
  expect(late.some((r) => r.includes('Post-mortem'))).toBe(true);
  expect(late.some((r) => r.includes('Runbook update decision'))).toBe(true);
  expect(Date.parse(s.escalations[1].at) - Date.parse(resolvedAt)).toBeGreaterThanOrEqual(48 * HOUR);
  expect(Date.parse(s.escalations[2].at) - Date.parse(resolvedAt)).toBeGreaterThanOrEqual(48 * HOUR);
  expect(pagesFor(`${incident.incidentId}/follow-up-post-mortem-overdue`)).toHaveLength(1);

  // Filing the post-mortem and the runbook decision closes the follow-up.
  await handle.signal(postMortemFiledSignal, { link: 'https://wiki.accubooks.test/pm/1', author: 'lee' });
  await handle.signal(runbookUpdateSignal, { needed: false, note: 'runbook worked as written', by: 'lee' });
  const final = (await handle.result()) as FollowUpState;
  expect(final.status).toBe('closed');
  expect(Object.values(final.duties).map((d) => d.status)).toEqual(['done', 'done', 'done']);
  const closed = await handle.describe();
  expect(closed.status.name).toBe('COMPLETED');
  expect(closed.typedSearchAttributes.get(FollowUpDutiesKey)).toEqual([]);
  expect(closed.typedSearchAttributes.get(IncidentStatusKey)).toBe('follow-up-done');

  // The worker's metrics saw the incident close and both duties go overdue.
  const text = await metrics.registry.metrics();
  expect(text).toMatch(
    /accubooks_incidents_closed_total\{runbook="P0-1",severity="P0",status="resolved",breached="false"\} 1/,
  );
  expect(text).toMatch(
    /accubooks_incident_time_to_resolve_seconds_count\{runbook="P0-1",severity="P0",status="resolved"\} 1/,
  );
  expect(text).toMatch(
    /accubooks_followup_duties_overdue_total\{runbook="P0-1",severity="P0",duty="incident-report"\} 1/,
  );
  expect(text).toMatch(
    /accubooks_followup_duties_overdue_total\{runbook="P0-1",severity="P0",duty="post-mortem"\} 1/,
  );
  expect(text).toMatch(
    /accubooks_followup_duties_overdue_total\{runbook="P0-1",severity="P0",duty="runbook-update"\} 1/,
  );
});

test("the worker's health server serves the incident metrics at /metrics", async () => {
  const port = await freePort();
  const server = await startHealthServer(worker, { host: '127.0.0.1', port }, metrics.registry);
  try {
    const res = await fetch(`http://127.0.0.1:${port}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/plain');
    const body = await res.text();
    expect(body).toContain('# TYPE accubooks_incident_time_to_resolve_seconds histogram');
    expect(body).toContain('accubooks_incidents_opened_total{runbook="P0-1",severity="P0"}');
    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
  } finally {
    await server.close();
  }
});
