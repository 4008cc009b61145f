/**
 * Issue 22's proof on the real stack (the dev server: test/release/release.test.ts; the two-node
 * cluster: test/cluster/release.test.ts): a runbook change released with Worker
 * Versioning never touches an open incident.
 *
 *  1. v1 (the real worker process, build proof-v1) holds an open P0-4 waiting for the CEO and an
 *     open P1-3 (its queue stays above the level that resolves it and may not be scaled: it
 *     watches and waits for a person).
 *  2. A build that breaks every recorded P0-1 is refused by the replay gate (what it prints is kept).
 *  3. v2 (P0-4 and P1-3 look at the API before acting: a new first step, made from an edited copy
 *     of the workflows, test/release/builds.ts) takes 50 % of new incidents, then passes the gate
 *     again and is made current: a new P1-3 runs v2.
 *  4. The open P0-4 is approved and finishes on v1 (its history: only v1 workflow tasks, no v2
 *     step); the P1-3 is abandoned on v1; v1 then holds nothing (drained) and its worker stops.
 *  5. A rollback (v1's worker started again) makes new incidents run v1.
 * Each incident's report names its build. The figures go to test-artifacts/<artifact>.
 *
 * v2 changes P0-4 and P1-3 on purpose, so its author re-records their fixtures
 * (scripts/record-histories.ts P0-4 P1-3); the proof has no recording run, so v2's gate replays the
 * fixtures without theirs.
 */
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Client, WorkflowHandle } from '@temporalio/client';
import { runCli } from '../../client/cli';
import { connectClient } from '../../client/connection';
import { describeDeployment, openOnVersion } from '../../client/deployment';
import { startIncident } from '../../client/incidents';
import { submitApproval } from '../../client/approvals';
import { buildsOf } from '../../client/release/histories';
import { DEFAULT_FIXTURES } from '../../client/release/release';
import { generateIncidentReport } from '../../common/report';
import { loadTemporalConfig } from '../../config/temporal';
import { abandonSignal, stateQuery } from '../../definitions/messages';
import type { IncidentState } from '../../definitions/types';
import { startApprovalWorld, type ApprovalWorld } from '../../rig/approvals';
import { uniqueId } from '../../rig/env';
import { startReceiver, type Receiver } from '../../rig/receivers';
import { startSandbox, waitUntil, type Sandbox } from '../../rig/sandbox';
import { closed, waitForApproval } from '../../rig/scenarios/kit';
import { startWorkerProcess, type WorkerProcess } from '../../rig/worker-process';
import { editedBundle, LOOK_FIRST_STEP, p01PausesFirst, v2LooksFirst } from './builds';

/** Registers the proof's hooks and test; `where` names the Temporal service, `artifact` the figures' file. */
export function releaseProof(where: string, artifact: string): void {
  const taskQueue = uniqueId('release');
  const deployment = uniqueId('abk-release');
  const V1 = `proof-v1-${process.pid}`;
  const V2 = `proof-v2-${process.pid}`;
  const t0 = Date.now();
  const timeline: { atS: number; what: string }[] = [];
  const mark = (what: string) => {
    timeline.push({ atS: (Date.now() - t0) / 1000, what });
    return Date.now();
  };

  let client: Client;
  let sb: Sandbox;
  let world: ApprovalWorld;
  let pager: Receiver;
  let v2: { file: string; cleanup(): void };
  let bad: { file: string; cleanup(): void };
  let fixtures: string;
  let evidence: string;
  const workers: WorkerProcess[] = [];
  const saved = { queue: process.env.TEMPORAL_TASK_QUEUE, dep: process.env.WORKER_DEPLOYMENT_NAME };

  async function cli(...args: string[]) {
    let out = '';
    let err = '';
    const code = await runCli(['node', 'runbooks', ...args], {
      out: (s) => (out += s),
      err: (s) => (err += s),
    });
    return { code, out, err };
  }

  function workerEnv(buildId: string, bundle?: string): Record<string, string> {
    const byRole: Record<string, unknown[]> = {};
    for (const a of world.directory.approvers)
      for (const role of a.roles)
        (byRole[role] ??= []).push({ id: a.id, name: a.name, email: a.email, webhookUrl: a.webhookUrl });
    return {
      TEMPORAL_TASK_QUEUE: taskQueue,
      WORKER_VERSIONING: 'on',
      WORKER_DEPLOYMENT_NAME: deployment,
      WORKER_BUILD_ID: buildId,
      ...(bundle ? { WORKER_WORKFLOW_BUNDLE: bundle } : {}),
      ACCUBOOKS_API_CONTAINER: sb.name,
      ACCUBOOKS_API_URL: sb.url,
      APPROVERS_JSON: JSON.stringify(byRole),
      SMTP_URL: `smtp://127.0.0.1:${world.mailbox.port}`,
      SMTP_FROM: 'runbooks@accubooks.test',
      NOTIFY_SLACK_WEBHOOK_URL: `${world.team.url}/hooks/incidents`,
      NOTIFY_PAGERDUTY_EVENTS_URL: `${pager.url}/v2/enqueue`,
      PAGERDUTY_ROUTING_KEY: 'release-proof-routing',
      EVIDENCE_DIR: evidence,
    };
  }

  async function startWorker(name: string, buildId: string, bundle?: string) {
    const w = await startWorkerProcess({ env: workerEnv(buildId, bundle), name });
    workers.push(w);
    return w;
  }

  /** The code an approver received for this incident (their webhook), waiting for it. */
  async function codeFor(approver: string, workflowId: string): Promise<string> {
    let code: string | undefined;
    await waitUntil(`a code for ${approver} on ${workflowId}`, () => {
      code = world.personal.requests
        .filter(
          (r) => r.path === `/${approver}` && (r.body as { workflowId?: string }).workflowId === workflowId,
        )
        .map((r) => (r.body as { code: string }).code)
        .at(-1);
      return Promise.resolve(!!code);
    });
    return code!;
  }

  const historyBuilds = async (h: WorkflowHandle) => buildsOf(await h.fetchHistory());
  const stepNames = (s: IncidentState) => s.steps.map((st) => st.name);

  /**
   * A P1-3 whose queue stays at 250 jobs (above the 200 that resolves it) and may not be scaled: it
   * stays open, watching, until a person closes it. It acts on nothing, so several run side by side.
   */
  function startP13(label: string) {
    return startIncident({
      client,
      taskQueue,
      runbook: 'P1-3',
      target: sb.name,
      workflowId: uniqueId(`release-P1-3-${label}`),
      trigger: { source: 'manual', startedBy: 'release proof', description: 'queue overflow reported' },
      policy: {
        depthQuery: 'vector(250)',
        utilizationQuery: 'vector(0.5)',
        maxReplicas: 0,
        sampleIntervalMs: 1_000,
        maxSampleIntervalMs: 2_000,
      },
    });
  }

  function startP04(label: string) {
    return startIncident({
      client,
      taskQueue,
      runbook: 'P0-4',
      target: sb.name,
      workflowId: uniqueId(`release-P0-4-${label}`),
      trigger: {
        source: 'alert',
        alertName: 'CrossTenantLeakage',
        labels: { violation: 'cross-tenant leakage' },
      },
      policy: {
        verifyWindowMs: 20_000,
        verifyIntervalMs: 500,
        stopTimeoutSec: 2,
        reminderEveryMs: 30 * 60_000,
      },
    });
  }

  beforeAll(async () => {
    process.env.TEMPORAL_TASK_QUEUE = taskQueue;
    process.env.WORKER_DEPLOYMENT_NAME = deployment;
    [sb, world, pager, v2, bad] = await Promise.all([
      startSandbox('abk-release'),
      startApprovalWorld(),
      startReceiver(),
      editedBundle('v2', v2LooksFirst),
      editedBundle('bad', [...v2LooksFirst, p01PausesFirst]),
    ]);
    client = await connectClient(loadTemporalConfig());
    evidence = mkdtempSync(path.join(tmpdir(), 'abk-release-evidence-'));
    fixtures = mkdtempSync(path.join(tmpdir(), 'abk-release-fixtures-'));
    for (const f of readdirSync(DEFAULT_FIXTURES).filter(
      (f) => f.endsWith('.json') && !/^P(0-4|1-3)-/.test(f),
    ))
      copyFileSync(path.join(DEFAULT_FIXTURES, f), path.join(fixtures, f));
  });

  afterAll(async () => {
    if (client) {
      for await (const wf of client.workflow.list({
        query: `ExecutionStatus = 'Running' AND TaskQueue = '${taskQueue}'`,
      }))
        await client.workflow
          .getHandle(wf.workflowId, wf.runId)
          .terminate('release proof over')
          .catch(() => undefined);
    }
    for (const w of workers) await w.stop();
    await client?.connection.close();
    await Promise.all([sb?.remove(), world?.close(), pager?.close()]);
    v2?.cleanup();
    bad?.cleanup();
    for (const d of [fixtures, evidence]) if (d) rmSync(d, { recursive: true, force: true });
    process.env.TEMPORAL_TASK_QUEUE = saved.queue;
    if (saved.dep === undefined) delete process.env.WORKER_DEPLOYMENT_NAME;
    else process.env.WORKER_DEPLOYMENT_NAME = saved.dep;
  });

  test(`${where}: a runbook change released with Worker Versioning: open incidents finish on v1, new ones run v2, rollback runs v1 again`, async () => {
    // 1. v1, the first build of the deployment, makes itself current and takes two incidents.
    const v1 = await startWorker('v1', V1);
    await waitUntil(
      'v1 to be current',
      async () => (await describeDeployment(client, deployment))?.current === V1,
    );
    mark(`v1 (${V1}) current`);
    const p13 = await startP13('v1');
    await waitUntil(
      'P1-3 to watch its queue',
      async () => stepNames(await p13.query(stateQuery)).includes('verify'),
      90_000,
    );
    const p04 = await startP04('v1');
    await waitForApproval(p04);
    mark('v1 holds an open P1-3 (watching its queue) and an open P0-4 waiting for the CEO');
    const before = await cli('--json', 'release', 'status');
    expect(before.code).toBe(0);
    const v1Row = (JSON.parse(before.out) as { versions: { buildId: string; open: number }[] }).versions.find(
      (v) => v.buildId === V1,
    );
    expect(v1Row?.open).toBeGreaterThanOrEqual(2);

    // 2. A build that breaks recorded histories is refused, and says why.
    await startWorker('v2', V2, v2.file);
    const refused = await cli(
      'release',
      'promote',
      '--build',
      'proof-bad',
      '--workflow-bundle',
      bad.file,
      '--fixtures',
      fixtures,
    );
    mark('a build that breaks P0-1 was refused by the replay gate');
    expect(refused.code).toBe(3);
    expect(refused.err).toMatch(
      /replay gate FAILED: build proof-bad does not replay \d+ of \d+ histories; release refused/,
    );
    expect(refused.err).toMatch(/P0-1-[a-z-]+\.json: DeterminismViolationError/);
    expect((await describeDeployment(client, deployment))?.current).toBe(V1);

    // 3. v2 first takes a share of new incidents (a ramp, gated too), then passes the gate again and
    // becomes current; a new P1-3 runs v2 (its new step first).
    const ramped = await cli(
      'release',
      'ramp',
      '50',
      '--build',
      V2,
      '--workflow-bundle',
      v2.file,
      '--fixtures',
      fixtures,
    );
    expect(ramped).toMatchObject({ code: 0, err: '' });
    expect(ramped.out).toContain(`build ${V2} now takes 50% of new incidents`);
    const duringRamp = JSON.parse((await cli('--json', 'release', 'status')).out) as {
      current: string;
      ramping: { buildId: string; percentage: number } | null;
    };
    expect(duringRamp).toMatchObject({ current: V1, ramping: { buildId: V2, percentage: 50 } });
    mark('v2 ramped to 50% of new incidents');
    const promoted = await cli(
      'release',
      'promote',
      '--build',
      V2,
      '--workflow-bundle',
      v2.file,
      '--fixtures',
      fixtures,
    );
    expect(promoted).toMatchObject({ code: 0, err: '' });
    expect(promoted.out).toContain(`build ${V2} is now current; ${V1} drains`);
    const promotedAt = mark(`v2 (${V2}) promoted: ${promoted.out.split('\n')[0]}`);
    // (A P1-3: a second P0-4 on the same target would contend with the open one for its hold.)
    const p13v2 = await startP13('v2');
    await waitUntil(
      'the new P1-3 to run its first step',
      async () => (await p13v2.query(stateQuery)).steps.length > 0,
    );
    expect(stepNames(await p13v2.query(stateQuery))[0]).toBe(LOOK_FIRST_STEP);
    expect(await historyBuilds(p13v2)).toEqual([V2]);
    mark('a new P1-3 runs v2 (its first step is the new one)');

    // 4. The open incidents finish on v1: the P0-4 approved, the P1-3 abandoned by a person.
    const answer = await submitApproval(p04, {
      approver: 'ceo',
      decision: 'approve',
      reason: 'checked',
      code: await codeFor('ceo', p04.workflowId),
    });
    expect(answer.accepted).toBe(true);
    const p04State = await closed(p04, 180_000).catch(async (err: Error) => {
      // What the incident waits for, when it does not close: the decisions say.
      const st = await p04.query(stateQuery).catch(() => undefined);
      throw new Error(
        `${err.message}\nP0-4 state: ${st?.currentStep}; ${st?.decisions.slice(-6).join(' | ')}`,
      );
    });
    expect(p04State.status).toBe('resolved');
    expect(stepNames(p04State)).not.toContain(LOOK_FIRST_STEP);
    expect(await historyBuilds(p04)).toEqual([V1]);
    mark('the v1 P0-4 was approved and resolved on v1');
    await p13.signal(abandonSignal, {
      by: 'release proof',
      reason: 'the queue is handled by hand',
    });
    await p13.signal(abandonSignal, {
      by: 'cto',
      reason: 'confirmed',
      code: await codeFor('cto', p13.workflowId),
    });
    const p13State = await closed(p13);
    expect(p13State.status).toBe('abandoned');
    expect(await historyBuilds(p13)).toEqual([V1]);
    mark('the v1 P1-3 was abandoned on v1');

    // v1 holds no open incident any more: it has drained, and its worker stops.
    await waitUntil(
      'v1 to hold no open incident',
      async () => (await openOnVersion(client, deployment, V1)) === 0,
      120_000,
    );
    const drainedAt = mark('v1 holds no open incident (drained)');
    const status = await cli('release', 'status');
    const stopStarted = Date.now();
    await v1.stop();
    const stoppedAt = mark(`v1's worker stopped (SIGTERM; ${Date.now() - stopStarted} ms)`);

    for (const [h, build] of [
      [p04, V1],
      [p13v2, V2],
    ] as const) {
      const report = await generateIncidentReport(client, h.workflowId);
      expect(report).toContain(`| Ran on | build ${build} (${deployment}, pinned) |`);
    }

    // 5. Rollback: v1's worker again, made current; a new P1-3 runs v1 (no new step).
    await startWorker('v1 again', V1);
    const rolledBack = await cli('release', 'rollback');
    expect(rolledBack).toMatchObject({ code: 0, err: '' });
    expect(rolledBack.out).toContain(`build ${V1} is current again; ${V2} drains`);
    mark('rolled back to v1');
    const p13back = await startP13('rollback');
    await waitUntil(
      'the rollback P1-3 to run its first step',
      async () => (await p13back.query(stateQuery)).steps.length > 0,
    );
    expect(stepNames(await p13back.query(stateQuery))).not.toContain(LOOK_FIRST_STEP);
    expect(await historyBuilds(p13back)).toEqual([V1]);
    mark('a new P1-3 runs v1 again');

    const figures = {
      v1DrainedAfterPromotionS: (drainedAt - promotedAt) / 1000,
      v1StoppedAfterPromotionS: (stoppedAt - promotedAt) / 1000,
      incidents: {
        [V1]: [p13.workflowId, p04.workflowId, p13back.workflowId],
        [V2]: [p13v2.workflowId],
      },
      refusedGate: refused.err.trim(),
      promoted: promoted.out.trim(),
      statusAfterDrain: status.out.trim(),
      timeline,
    };
    console.log(JSON.stringify(figures, null, 2));
    mkdirSync(path.join(__dirname, '../../test-artifacts'), { recursive: true });
    writeFileSync(path.join(__dirname, `../../test-artifacts/${artifact}`), JSON.stringify(figures, null, 2));
  });
}
