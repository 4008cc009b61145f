/**
 * The CLI's post-incident commands end to end: the built CLI (`node dist/client/cli.js`) against
 * the dev server, with a real worker in this process on a task queue of the test's own, configured
 * with INCIDENT_OWNERS. A P0-1 incident on an unknown target (its checks fail fast; it watches until
 * a person closes it) is closed through the CLI (a resolve is refused by its health check, an
 * abandon is confirmed with the CTO's one-time code); its follow-up then shows in `list`, takes its
 * duties through `file-report`, `file-post-mortem` and `runbook-update` (addressed by incident
 * workflow ID, incident ID and follow-up ID), and `report` renders the incident from its history.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { historyToJson } from '../../common/report/proto-json';
import { followUpStateQuery, followUpWorkflowId } from '../../definitions/messages';
import type { IncidentState } from '../../definitions/types';
import { startIncidentRig, type IncidentRig } from '../../rig/incident-rig';
import { assertCliBuilt, cliOn } from '../../rig/cli';
import { uniqueId } from '../../rig/env';
import { waitUntil } from '../../rig/sandbox';

const taskQueue = uniqueId('cli-follow-up');
const OWNERS = ['owner-one@accubooks.test', 'owner-two@accubooks.test'];
const dir = mkdtempSync(path.join(tmpdir(), 'abk-cli-follow-up-'));

let rig: IncidentRig;

const cli = cliOn(taskQueue);

beforeAll(async () => {
  assertCliBuilt(['client/cli.ts', 'client/cli/follow-up.ts', 'client/follow-up.ts']);
  // The owners come from the worker's config, as in production.
  rig = await startIncidentRig({
    name: 'cli-follow-up',
    server: 'dev',
    taskQueue,
    sandbox: false,
    pagerDutyRoutingKey: 'cli-test-routing-key',
    chatHook: 'owners',
  });
  await rig.startWorker({
    deps: {
      approvers: {
        approvers: [
          { id: 'cto', name: 'Chris (CTO)', roles: ['CTO'], webhookUrl: `${rig.slack.url}/approver/cto` },
        ],
      },
    },
    workerEnv: { INCIDENT_OWNERS: OWNERS.join(', ') },
    worker: { shutdownGraceTime: '1s' },
  });
});

afterAll(async () => {
  await rig?.close();
});

interface ListedFollowUp {
  workflowId: string;
  runbook: string;
  severity: string;
  target: string;
  openDuties: string[];
  overdue: boolean;
}

test('usage errors exit 2, unknown incidents exit 1, and both say what to do', async () => {
  const noLink = await cli('file-report', 'x', '--author', 'dana');
  expect(noLink.code).toBe(2);
  expect(noLink.stderr).toMatch(/required option '--link <url>'/);
  const badLink = await cli('--json', 'file-post-mortem', 'x', '--link', 'wiki/pm', '--author', 'dana');
  expect(badLink.code).toBe(2);
  expect(badLink.errorJson()).toMatchObject({ exitCode: 2, error: expect.stringMatching(/is not a URL/) });
  const badNeeded = await cli('runbook-update', 'x', '--needed', 'maybe', '--note', 'n');
  expect(badNeeded.code).toBe(2);
  expect(badNeeded.stderr).toMatch(/--needed "maybe" must be yes or no/);
  const noArg = await cli('report');
  expect(noArg.code).toBe(2);
  expect(noArg.stderr).toMatch(/--from-file history\.json/);

  const missing = uniqueId('no-such-incident');
  const unknown = await cli('--json', 'file-report', missing, '--link', 'https://w/1', '--author', 'dana');
  expect(unknown.code).toBe(1);
  expect(unknown.errorJson().error).toMatch(
    /No follow-up, incident or incident workflow called .*runbooks list/,
  );
  const noReport = await cli('report', missing);
  expect(noReport.code).toBe(1);
  expect(noReport.stderr).toMatch(/No incident with workflow ID .*runbooks list --all/);
  const noFile = await cli('report', '--from-file', path.join(dir, 'missing.json'));
  expect(noFile.code).toBe(1);
  expect(noFile.stderr).toMatch(/Cannot read .*missing\.json.*temporal workflow show/);
});

test('a resolved incident: its follow-up is listed, takes its duties through the CLI, and closes; report renders it', async () => {
  const target = uniqueId('abk-fu-nope');
  const started = await cli('--json', 'trigger', 'P0-1', '--target', target, '--description', 'probe red');
  expect(started.code).toBe(0);
  const { workflowId } = started.json<{ workflowId: string }>();

  // Still open: no follow-up yet, and the CLI says so.
  await waitUntil('the first step', async () => {
    const s = await cli('--json', 'status', workflowId);
    return s.code === 0 && s.json<IncidentState>().steps.length > 0;
  });
  const early = await cli('file-report', workflowId, '--link', 'https://w/1', '--author', 'dana');
  expect(early.code).toBe(1);
  expect(early.stderr).toMatch(/is still open .*follow-up starts when it is resolved or closed/);

  // A resolve is a claim the runbook checks (health 200 on a target that does not exist): refused.
  expect((await cli('resolve', workflowId, '--reason', 'probe misconfigured')).code).toBe(0);
  await waitUntil('the resolve to be refused', async () => {
    const s = await cli('--json', 'status', workflowId);
    return s.code === 0 && !!s.json<IncidentState>().closeRequests?.some((c) => c.outcome === 'refused');
  });
  // Abandoning asks the CTO for a one-time code; the CTO confirms with it.
  expect((await cli('abandon', workflowId, '--reason', 'probe misconfigured')).code).toBe(0);
  const ctoCode = () =>
    rig.slack.requests.find((r) => r.path === '/approver/cto' && r.body.workflowId === workflowId)?.body
      .code as string | undefined;
  await waitUntil('the CTO code', () => Promise.resolve(!!ctoCode()));
  const confirm = await cli(
    'abandon',
    workflowId,
    '--by',
    'cto',
    '--code',
    ctoCode()!,
    '--reason',
    'confirmed',
  );
  expect(confirm.code).toBe(0);
  await waitUntil(
    'the incident to close',
    async () => (await rig.client.workflow.getHandle(workflowId).describe()).status.name === 'COMPLETED',
    60_000,
  );
  const incident = (await rig.client.workflow.getHandle(workflowId).result()) as IncidentState;
  const followUpId = followUpWorkflowId(incident.incidentId);
  const followUp = rig.client.workflow.getHandle(followUpId);
  await waitUntil('the follow-up to send its draft', async () => {
    const s = await followUp.query(followUpStateQuery).catch(() => undefined);
    return s?.status === 'open';
  });
  // INCIDENT_OWNERS reached the follow-up through the worker's config.
  expect((await followUp.query(followUpStateQuery)).owners).toEqual(OWNERS);

  // list: a separate section (and key) for open follow-up duties.
  let listed: ListedFollowUp | undefined;
  await waitUntil('the follow-up to be listed', async () => {
    const l = await cli('--json', 'list', '--target', target);
    const body = l.json<{ followUps: ListedFollowUp[]; followUpQuery: string }>();
    expect(body.followUpQuery).toMatch(/WorkflowType = 'postIncident' AND ExecutionStatus = 'Running'/);
    listed = body.followUps.find((f) => f.workflowId === followUpId);
    return listed?.openDuties.length === 3;
  });
  expect(listed).toMatchObject({ runbook: 'P0-1', severity: 'P0', target, overdue: false });
  expect(listed!.openDuties.sort()).toEqual(['incident-report', 'post-mortem', 'runbook-update']);
  const table = await cli('list', '--target', target);
  expect(table.stdout).toMatch(
    /Open follow-up duties:\n.*FOLLOW-UP WORKFLOW ID\s+RUNBOOK\s+SEV\s+TARGET\s+OPEN DUTIES/,
  );
  expect(table.stdout).toContain(followUpId);

  // The report, by the incident's workflow ID (each duty command takes any of the three IDs).
  const report = await cli(
    '--json',
    'file-report',
    workflowId,
    '--link',
    'https://wiki.test/ir/1',
    '--author',
    'dana',
  );
  expect(report.code).toBe(0);
  expect(report.json()).toMatchObject({
    followUpWorkflowId: followUpId,
    duty: 'incident-report',
    accepted: true,
    openDuties: ['post-mortem', 'runbook-update'],
    duties: { 'incident-report': { status: 'done', link: 'https://wiki.test/ir/1', by: 'dana' } },
  });
  // Filed twice: the workflow refuses, and the CLI shows its reason with exit 3.
  const twice = await cli(
    '--json',
    'file-report',
    followUpId,
    '--link',
    'https://wiki.test/ir/2',
    '--author',
    'lee',
  );
  expect(twice.code).toBe(3);
  expect(twice.errorJson()).toMatchObject({
    exitCode: 3,
    accepted: false,
    error: expect.stringMatching(/Refused by the follow-up .*already filed .* by dana/),
  });

  // The post-mortem, by the incident ID.
  const pm = await cli(
    'file-post-mortem',
    incident.incidentId,
    '--link',
    'https://wiki.test/pm/1',
    '--author',
    'lee',
  );
  expect(pm.code).toBe(0);
  expect(pm.stdout).toMatch(/Recorded: post-mortem filed .*\nStill open: runbook-update/);

  // "Yes" stays open until the change is linked; linking it closes the follow-up.
  const yes = await cli(
    '--json',
    'runbook-update',
    followUpId,
    '--needed',
    'yes',
    '--note',
    'probe path changed',
  );
  expect(yes.code).toBe(0);
  expect(yes.json()).toMatchObject({
    accepted: true,
    openDuties: ['runbook-update'],
    duties: { 'runbook-update': { status: 'open', needed: true, note: 'probe path changed' } },
  });
  const linked = await cli(
    '--json',
    'runbook-update',
    followUpId,
    '--needed',
    'yes',
    '--note',
    'probe path changed',
    '--link',
    'https://git.test/pr/7',
  );
  expect(linked.code).toBe(0);
  expect(linked.json()).toMatchObject({
    accepted: true,
    openDuties: [],
    duties: { 'runbook-update': { status: 'done', link: 'https://git.test/pr/7' } },
  });
  expect(linked.stdout).not.toContain('Every duty'); // --json: data only
  const human = await cli('runbook-update', followUpId, '--needed', 'no', '--note', 'again');
  expect(human.code).toBe(3);
  expect(human.stderr).toMatch(/closed|already recorded/);
  await waitUntil(
    'the follow-up to close',
    async () => (await followUp.describe()).status.name === 'COMPLETED',
    30_000,
  );

  const after = await cli('--json', 'list', '--target', target);
  expect(after.json<{ followUps: ListedFollowUp[] }>().followUps).toEqual([]);

  // report: stdout, --json, --out, and a history exported to a file.
  const md = await cli('report', workflowId);
  expect(md.code).toBe(0);
  expect(md.stdout).toContain(`P0-1`);
  expect(md.stdout).toContain(target);
  expect(md.stdout).toMatch(/probe misconfigured/);
  const asJson = await cli('--json', 'report', workflowId);
  const generated = (text: string) => text.replace(/_Generated .*_/, '_Generated_').trimEnd();
  const body = asJson.json<{ workflowId: string; markdown: string }>();
  expect(body.workflowId).toBe(workflowId);
  expect(generated(body.markdown)).toBe(generated(md.stdout));
  const out = path.join(dir, 'report.md');
  const written = await cli('--json', 'report', workflowId, '--out', out);
  expect(written.json()).toMatchObject({ workflowId, out });
  expect(readFileSync(out, 'utf8')).toContain(target);
  const exported = path.join(dir, 'history.json');
  writeFileSync(exported, historyToJson(await rig.client.workflow.getHandle(workflowId).fetchHistory()));
  const fromFile = await cli('report', '--from-file', exported);
  expect(fromFile.code).toBe(0);
  expect(fromFile.stdout).toContain(target);
}, 120_000);
