/**
 * The incident report from workflow history.
 *  - From the recorded fixtures (the same proto JSON the CLI and UI export): completed, running and
 *    failed histories, and the older PascalCase export.
 *  - From a real run on the dev server: an in-process worker with the real activities and a private
 *    sandbox container; P0-1 fails to recover, escalates, receives an approval attempt carrying a
 *    code, and is resolved by a person. The report (through the client, and from the CLI's JSON
 *    export) contains every step, the escalation and the attempt, and no secret or code. The
 *    follow-up drafts its report from the same history.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { NativeConnection, Worker } from '@temporalio/worker';
import type { Client } from '@temporalio/client';
import { loadTemporalConfig } from '../../config/temporal';
import { loadWorkerConfig } from '../../config/worker';
import { secretsOf } from '../../config/secrets';
import { connectClient } from '../../client/connection';
import { startIncident } from '../../client/incidents';
import {
  generateIncidentReport,
  reportFromFile,
  reportFromHistory,
  reportFromState,
} from '../../common/report/index';
import { historyFromJson } from '../../common/report/proto-json';
import { runReportCommand } from '../../client/report';
import { createActivities } from '../../activities';
import { followUpStateQuery, resolveSignal, stateQuery } from '../../definitions/messages';
import type { FollowUpState, IncidentState } from '../../definitions/types';
import { createIncidentMetrics, incidentMetricsSinks } from '../../worker/metrics';
import type { WorkerClients } from '../../worker/clients';
import { testClients } from '../../rig/deps';
import { need, uniqueId } from '../../rig/env';
import { startReceiver, type Receiver } from '../../rig/receivers';
import { startSandbox, waitUntil, type Sandbox } from '../../rig/sandbox';
import { workflowSource } from '../../rig/temporal';

const FIXTURES = path.resolve(__dirname, '../fixtures/histories');
interface JsonEvent {
  eventId: string;
  eventTime: string;
  eventType: string;
  [attributes: string]: unknown;
}
const fixture = (name: string) =>
  JSON.parse(readFileSync(path.join(FIXTURES, `${name}.json`), 'utf8')) as { events: JsonEvent[] };
const APPROVAL_CODE = 'QWRTY-23456';

describe('from recorded histories', () => {
  test('a completed incident: summary, trigger values, every step with its result, time to resolve vs target', () => {
    const md = reportFromHistory(historyFromJson(fixture('P0-1-crash-restart-verified')), {
      workflowId: 'wf-1',
    });
    expect(md).toContain('# Incident report: P0-1 System down:');
    expect(md).toContain('| Severity | P0 |');
    expect(md).toContain('| Status | resolved (workflow completed) |');
    expect(md).toContain('| up | 0 |'); // alert value at trigger
    for (const step of [
      '1. Check health',
      '2. Check logs',
      '3. Restart (1/3)',
      '4. Verify: health returns 200',
    ])
      expect(md).toContain(`| ${step} | done |`);
    for (const activity of ['checkHealth', 'tailContainerLogs', 'restartContainer', 'waitForHealthy'])
      expect(md).toContain(`\`${activity}\``);
    expect(md).toMatch(/✔ Restart container .* \| done; container running/);
    expect(md).toMatch(/Time to resolve .* vs target 30m: within target/);
    expect(md).toContain('Start postIncident `follow-up-');
  });

  test('an escalated incident closed by a person lists the escalation and who closed it', () => {
    const md = reportFromHistory(historyFromJson(fixture('P0-1-still-down-escalated-resolved-by-person')));
    expect(md).toMatch(
      /\| engineering lead \(CTO\) \| Escalate if not resolved in 15 minutes \| pagerduty, slack \|/,
    );
    expect(md).toContain('Timer fired (15m): Escalate if not resolved in 15 minutes');
    expect(md).toContain('| Closed by | dana (on-call) (resolve): fixed the host by hand |');
    expect(md).toContain('Signal `resolve`');
  });

  test('a still-running workflow is reported as of now, with what is in progress', () => {
    const md = reportFromHistory(historyFromJson(fixture('post-incident-after-hand-off')));
    expect(md).toContain('**Still running**');
    expect(md).toContain('workflow running');
    expect(md).toContain('Open for');
  });

  test('a failed workflow shows why it failed', () => {
    const json = fixture('P0-1-healthy-at-first-check');
    const last = json.events.at(-1)!;
    json.events[json.events.length - 1] = {
      eventId: last.eventId,
      eventTime: last.eventTime,
      eventType: 'EVENT_TYPE_WORKFLOW_EXECUTION_FAILED',
      workflowExecutionFailedEventAttributes: {
        failure: { message: 'boom: password=hunter2', applicationFailureInfo: { type: 'INVALID_INPUT' } },
        retryState: 'RETRY_STATE_RETRY_POLICY_NOT_SET',
        workflowTaskCompletedEventId: String(Number(last.eventId) - 1),
      },
    };
    const md = reportFromHistory(historyFromJson(json));
    expect(md).toContain('Workflow failed: INVALID_INPUT: boom: password=***');
    expect(md).toContain('workflow failed');
    expect(md).not.toContain('hunter2');
  });

  test('an older UI export (PascalCase event types) reads the same', () => {
    const json = fixture('P0-1-healthy-at-first-check');
    for (const e of json.events)
      e.eventType = e.eventType
        .replace(/^EVENT_TYPE_/, '')
        .toLowerCase()
        .replace(/(^|_)([a-z])/g, (_m: string, _u: string, c: string) => c.toUpperCase());
    expect(json.events[0].eventType).toBe('WorkflowExecutionStarted');
    const dir = mkdtempSync(path.join(tmpdir(), 'abk-report-'));
    writeFileSync(path.join(dir, 'h.json'), JSON.stringify(json));
    return expect(reportFromFile(path.join(dir, 'h.json'))).resolves.toContain('| 1. Check health | done |');
  });

  test('approval attempts from the state: who, decision, accepted or refused and why; never the code or its hash', () => {
    const incident = {
      incidentId: 'P0-4-x',
      runbook: 'P0-4',
      title: 'P0-4 Data integrity violation: accubooks-api',
      severity: 'P0',
      target: 'accubooks-api',
      status: 'resolved',
      currentStep: 'resolved',
      trigger: { source: 'manual', startedBy: 'ops' },
      steps: [],
      checks: {},
      escalations: [],
      alerts: { firing: 1, resolved: 0 },
      mttr: {
        detectedAt: '2026-01-01T00:00:00.000Z',
        remediationStartedAt: '2026-01-01T00:00:00.000Z',
        resolvedAt: '2026-01-01T01:00:00.000Z',
        targetMs: 1_800_000,
        breached: true,
        waits: [
          {
            what: 'CEO approval',
            since: '2026-01-01T00:10:00.000Z',
            until: '2026-01-01T00:50:00.000Z',
            ms: 2_400_000,
          },
        ],
      },
      decisions: [],
      failing: {},
      approvals: [
        {
          gate: 'restart-after-integrity-stop',
          codes: [{ approver: 'ceo', salt: 'c2FsdA', hash: 'deadbeefcafe', status: 'used' }],
          attempts: [
            {
              n: 1,
              at: '2026-01-01T00:20:00.000Z',
              via: 'signal',
              approver: 'mallory',
              decision: 'approve',
              reason: `code ${APPROVAL_CODE}`,
              accepted: false,
              refusedBecause: 'mallory does not hold the CEO role',
            },
            {
              n: 2,
              at: '2026-01-01T00:50:00.000Z',
              via: 'update',
              approver: 'ceo',
              decision: 'approve',
              reason: 'evidence preserved',
              accepted: true,
            },
          ],
        },
      ],
    } as unknown as IncidentState;
    const md = reportFromState(incident);
    expect(md).toContain('| mallory | approve (via signal) | refused | mallory does not hold the CEO role');
    expect(md).toContain('| ceo | approve (via update) | accepted | evidence preserved |');
    expect(md).toContain('Waited for a person (CEO approval)');
    expect(md).toContain('BREACHED');
    expect(md).not.toContain(APPROVAL_CODE);
    expect(md).not.toContain('deadbeefcafe');
  });
});

describe('from a real run on the dev server', () => {
  let client: Client;
  let connection: NativeConnection;
  let worker: Worker;
  let running: Promise<void>;
  let sandbox: Sandbox;
  let pagerDuty: Receiver;
  let slack: Receiver;
  let clients: WorkerClients;
  const taskQueue = uniqueId('report');
  const secrets = secretsOf(loadWorkerConfig());

  beforeAll(async () => {
    [client, connection, sandbox, pagerDuty, slack] = await Promise.all([
      connectClient(loadTemporalConfig()),
      NativeConnection.connect({ address: need('TEMPORAL_ADDRESS') }),
      startSandbox('abk-report'),
      startReceiver(),
      startReceiver(),
    ]);
    clients = testClients({
      health: { apiUrls: { [sandbox.name]: sandbox.url } },
      notify: {
        pagerDutyEventsUrl: `${pagerDuty.url}/v2/enqueue`,
        pagerDutyRoutingKey: 'report-test-routing-key',
        slackWebhookUrl: `${slack.url}/hooks/oncall`,
      },
      temporal: client,
      reportSecrets: secrets,
    });
    worker = await Worker.create({
      connection,
      namespace: need('TEMPORAL_NAMESPACE'),
      taskQueue,
      ...workflowSource(),
      activities: createActivities(clients.deps),
      sinks: incidentMetricsSinks(createIncidentMetrics()),
    });
    running = worker.run();
  });

  afterAll(async () => {
    worker?.shutdown();
    await running;
    await Promise.all([sandbox?.remove(), pagerDuty?.close(), slack?.close(), clients?.close()]);
    await connection?.close();
    await client?.connection.close();
  });

  test('the report has every step, the escalation and the approval attempt, and no secret or code', async () => {
    await sandbox.inject({ fault: 'fail-health', persist: true, reason: 'db password=hunter2 rejected' });
    const workflowId = uniqueId('report-P0-1');
    const handle = await startIncident({
      client,
      taskQueue,
      runbook: 'P0-1',
      target: sandbox.name,
      trigger: {
        source: 'alert',
        alertName: 'SystemUnreachable',
        labels: { service: sandbox.name },
        values: { up: 0, probe_duration_seconds: 3.2 },
        startedBy: 'report test',
      },
      policy: {
        escalateAfterMs: 3_000,
        maxRestarts: 1,
        verifyWindowMs: 2_000,
        verifyIntervalMs: 500,
        recheckIntervalMs: 1_000,
        maxRecheckIntervalMs: 2_000,
      },
      workflowId,
    });
    await waitUntil(
      'the escalation',
      async () => (await handle.query(stateQuery)).escalations.length > 0,
      60_000,
    );

    // While it runs, the report shows it as running, with the steps so far.
    const live = await generateIncidentReport(client, workflowId, { secrets });
    expect(live).toContain('**Still running**');
    expect(live).toContain('| 1. Check health | done |');

    // An approval attempt arrives (P0-1 has no approval gate: it is recorded in history only).
    await handle.signal('approval', {
      approver: 'mallory',
      decision: 'approve',
      reason: 'please restart',
      code: APPROVAL_CODE,
    });
    // A resolve is a claim the runbook checks (health 200): the fault is fixed first.
    await sandbox.clearFaults();
    await handle.signal(resolveSignal, { by: 'dana (on-call)', reason: 'database credentials rotated' });
    const final = (await handle.result()) as IncidentState;
    expect(final.status).toBe('resolved');

    const md = await generateIncidentReport(client, workflowId, { secrets });
    for (const step of final.steps) expect(md).toContain(`| ${step.title} | ${step.status} |`);
    for (const activity of ['checkHealth', 'tailContainerLogs', 'restartContainer', 'waitForHealthy', 'page'])
      expect(md).toContain(`\`${activity}\``);
    expect(md).toContain('| probe_duration_seconds | 3.2 |');
    expect(md).toMatch(
      /\| engineering lead \(CTO\) \| Escalate if not resolved in 3 seconds \| pagerduty, slack \|/,
    );
    expect(md).toMatch(/\| mallory \| approve \(signal `approval`\) \| see state \| please restart \|/);
    expect(md).toContain('| Closed by | dana (on-call) (resolve): database credentials rotated |');
    expect(md).not.toContain(APPROVAL_CODE);
    expect(md).not.toContain('hunter2');
    for (const s of secrets) expect(md).not.toContain(s);

    // The CLI's JSON export renders the same report; so does the report command.
    const exported = execFileSync(
      need('TEMPORAL_CLI_PATH'),
      [
        'workflow',
        'show',
        '--address',
        need('TEMPORAL_ADDRESS'),
        '-n',
        need('TEMPORAL_NAMESPACE'),
        '-w',
        workflowId,
        '--output',
        'json',
      ],
      { encoding: 'utf8' },
    );
    const dir = mkdtempSync(path.join(tmpdir(), 'abk-report-'));
    writeFileSync(path.join(dir, 'history.json'), exported);
    const fromFile = await runReportCommand(undefined, {
      fromFile: path.join(dir, 'history.json'),
      workflowId,
      out: path.join(dir, 'report.md'),
    });
    expect(readFileSync(path.join(dir, 'report.md'), 'utf8')).toBe(fromFile);
    const withoutGenerated = (s: string) => s.replace(/_Generated .*_/, '');
    expect(withoutGenerated(fromFile)).toBe(withoutGenerated(md));

    // The follow-up drafted its report from this history and sent it to the owners.
    const followUp = client.workflow.getHandle(final.followUp!.workflowId);
    await waitUntil(
      'the follow-up draft',
      async () => (await followUp.query(followUpStateQuery)).status === 'open',
    );
    const f: FollowUpState = await followUp.query(followUpStateQuery);
    expect(f.draft).toMatchObject({ source: 'history', delivered: ['slack'] });
    const draft = slack.requests.find((r) => String(r.body.text).includes('Incident report draft'))!.body
      .text as string;
    expect(draft).toContain('Escalate if not resolved in 3 seconds');
    expect(draft).not.toContain(APPROVAL_CODE);
    await followUp.terminate('report test done');
  });
});
