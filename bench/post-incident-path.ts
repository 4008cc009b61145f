/**
 * 6. One incident's whole post-incident path on the time-skipping server: resolved → drafts →
 * reminders → 24 h and 48 h escalations → duties filed late → follow-up closed; its wall time.
 */
import type { WorkflowHandle } from '@temporalio/client';
import { startIncident } from '../client/incidents';
import {
  followUpStateQuery,
  followUpWorkflowId,
  postMortemFiledSignal,
  reportFiledSignal,
  runbookUpdateSignal,
  stateQuery,
} from '../definitions/messages';
import type { IncidentState } from '../definitions/types';
import { within } from './measure';
import type { Log } from './report';
import { HOUR, incidentIdOf, type TimeSkippingRig } from './time-skipping-rig';

export interface PostIncidentResult {
  /** Wall time of the whole 48-hour post-incident path of one incident. */
  postIncidentWallMs: number;
  postIncidentStatus: string;
}

/** The path of a P1-1 incident on `sim-<run>`; its handles go to `handles` (terminated by the caller). */
export async function postIncidentPath(
  rig: TimeSkippingRig,
  run: string,
  handles: WorkflowHandle[],
  log: Log,
): Promise<PostIncidentResult> {
  const { env, taskQueue } = rig;
  const target = `sim-${run}`;
  const h = await startIncident({
    client: env.client,
    taskQueue,
    runbook: 'P1-1',
    target,
    workflowId: `incident-P1-1-${target}`,
    trigger: {
      source: 'alert',
      alertName: 'HighErrorRate',
      labels: { service: target },
      startedBy: 'bench',
    },
  });
  handles.push(h);
  const incidentId = await incidentIdOf(h);
  const fu = env.client.workflow.getHandle(followUpWorkflowId(incidentId));
  handles.push(fu);
  const pathStart = performance.now();
  // Where the path is, so that a path that does not finish says where it stopped.
  let stage = 'abandon';
  const path = async () => {
    await rig.abandon(h, 'benchmark: post-incident path');
    stage = '49 h of time';
    await env.sleep(49 * HOUR);
    stage = 'duties filed';
    await fu.signal(reportFiledSignal, { link: 'https://wiki.local/report', author: 'bench' });
    await fu.signal(postMortemFiledSignal, { link: 'https://wiki.local/pm', author: 'bench' });
    await fu.signal(runbookUpdateSignal, { needed: false, note: 'no change', by: 'bench' });
    stage = 'follow-up result';
    await fu.result();
    return (await fu.query(followUpStateQuery)).status;
  };
  // A path cut short must not leave a call to retry against the server torn down below.
  const cutShort = new AbortController();
  let postIncidentStatus = await within(
    env.connection.withAbortSignal(cutShort.signal, path),
    120_000,
    'not closed within 120 s of wall time',
  );
  cutShort.abort();
  if (postIncidentStatus !== 'closed') {
    const where = await whereItStopped(h, fu);
    postIncidentStatus += ` (stopped at "${stage}": ${where})`;
    log(`  post-incident path: ${postIncidentStatus}`);
  }
  const postIncidentWallMs = performance.now() - pathStart;
  return { postIncidentWallMs, postIncidentStatus };
}

/** The incident's status, its pending activities and the follow-up's status, for a path cut short. */
async function whereItStopped(h: WorkflowHandle, fu: WorkflowHandle): Promise<string> {
  const inc = await h.query<IncidentState>(stateQuery).then(
    (s) => `incident ${s.status}`,
    (e: Error) => `incident: ${e.message}`,
  );
  const pending = await h.describe().then(
    (d) =>
      (d.raw.pendingActivities ?? [])
        .map((a) => `${a.activityType?.name} (attempt ${a.attempt}, ${a.state})`)
        .join(', ') || 'none',
    (e: Error) => e.message,
  );
  const follow = await fu.describe().then(
    (d) => `follow-up ${d.status.name}`,
    (e: Error) => `follow-up: ${e.message}`,
  );
  return `${inc}, activities pending: ${pending}; ${follow}`;
}
