/**
 * Records the histories of every runbook's main paths (rig/replay-scenarios.ts) as JSON fixtures in
 * test/fixtures/histories/, for the replay test. Runs on the time-skipping server with the real
 * activities against private sandbox containers (one shared, plus one per scenario that needs its
 * own), a private Prometheus scraping them, stripe-mock behind a recording proxy, approvers whose
 * codes arrive on a local SMTP server and webhooks, and local HTTP receivers for pages. Only the
 * test stack's addresses and local receivers are configured; check a new fixture for secrets anyway
 * (payloads are base64: decode before grepping).
 *
 *   source .stack/test/env && npm run build && node dist/scripts/record-histories.js [name-prefix ...]
 *
 * With prefixes, only the matching scenarios are recorded (e.g. `P0-2` after changing P0-2 on purpose,
 * see docs/runbook-changes.md); existing fixtures of other scenarios are left alone.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Pool } from 'pg';
import { Worker } from '@temporalio/worker';
import { historyToJson } from '../common/report/proto-json';
import { createActivities } from '../activities';
import { stripeFrom } from '../worker/clients';
import { createIncidentMetrics, incidentMetricsSinks } from '../worker/metrics';
import { startApprovalWorld } from '../rig/approvals';
import { testClients } from '../rig/deps';
import { need, uniqueId } from '../rig/env';
import { startTestPrometheus } from '../rig/prometheus';
import { startReceiver } from '../rig/receivers';
import { startSandbox, testDocker, type Sandbox } from '../rig/sandbox';
import { startStripeProxy } from '../rig/stripe-proxy';
import { timeSkippingEnv, workflowsPath } from '../rig/temporal';
import { SCENARIOS } from '../rig/replay-scenarios';
import { RECORDER_INCIDENT_OWNERS, type Scenario } from '../rig/scenarios/kit';

export const FIXTURES_DIR = path.resolve(__dirname, '../../test/fixtures/histories');

async function main(prefixes: string[]): Promise<void> {
  const chosen = SCENARIOS.filter((s) => !prefixes.length || prefixes.some((p) => s.name.startsWith(p)));
  if (!chosen.length) throw new Error(`no scenario matches ${prefixes.join(', ')}`);
  mkdirSync(FIXTURES_DIR, { recursive: true });
  const rec = await startRecorder();
  const taskQueue = uniqueId('record');
  const worker = await Worker.create({
    connection: rec.env.nativeConnection,
    taskQueue,
    workflowsPath,
    activities: createActivities(rec.clients.deps),
    sinks: incidentMetricsSinks(createIncidentMetrics()),
  });
  const running = worker.run();
  try {
    for (const scenario of chosen) await record(rec, taskQueue, scenario);
  } finally {
    worker.shutdown();
    await running;
    await stopRecorder(rec);
  }
}

type Recorder = Awaited<ReturnType<typeof startRecorder>>;

/** The time-skipping server, the shared sandbox and everything the activities talk to. */
async function startRecorder() {
  const docker = testDocker();
  const [env, sandbox, pagerDuty, slack, prom, world, stripe] = await Promise.all([
    timeSkippingEnv(),
    startSandbox('abk-record'),
    startReceiver(),
    startReceiver(),
    startTestPrometheus(docker),
    startApprovalWorld(),
    startStripeProxy(need('STRIPE_API_BASE')),
  ]);
  const adminUrl = new URL(need('PG_ADMIN_URL'));
  adminUrl.pathname = '/accubooks';
  const admin = new Pool({ connectionString: adminUrl.toString(), max: 2 });
  const billingKey = uniqueId('rec-billing').replace(/[^A-Za-z0-9_.:-]/g, '_');
  const apiUrls: Record<string, string> = { [sandbox.name]: sandbox.url };
  const sandboxes: Sandbox[] = [];
  // Only the stack's test addresses and the recorder's own receivers: nothing secret can reach a fixture.
  const clients = testClients({
    prometheusUrl: prom.url,
    health: { apiUrls },
    notify: {
      pagerDutyEventsUrl: `${pagerDuty.url}/v2/enqueue`,
      pagerDutyRoutingKey: 'recorder-routing-key',
      slackWebhookUrl: `${slack.url}/hooks/recorder`,
      mailer: world.mailbox.transport(),
      mailFrom: 'runbooks@accubooks.test',
    },
    approvers: world.directory,
    billing: { key: billingKey },
    stripe: stripeFrom(need('STRIPE_API_KEY'), stripe.url),
    incidentOwners: RECORDER_INCIDENT_OWNERS,
  });
  return {
    docker,
    env,
    sandbox,
    pagerDuty,
    slack,
    prom,
    world,
    stripe,
    admin,
    billingKey,
    apiUrls,
    sandboxes,
    clients,
  };
}

/** Runs one scenario and writes the histories it returns as fixtures. */
async function record(rec: Recorder, taskQueue: string, scenario: Scenario): Promise<void> {
  const { env, sandbox, prom, world, billingKey, admin, apiUrls, sandboxes } = rec;
  process.stdout.write(`recording ${scenario.name}\n`);
  const handles = await scenario.run({
    env,
    taskQueue,
    sandbox,
    id: uniqueId,
    prom,
    world,
    billingKey,
    admin,
    async newSandbox(prefix, extraEnv = {}) {
      const sb = await startSandbox(prefix, extraEnv);
      sandboxes.push(sb);
      apiUrls[sb.name] = sb.url;
      prom.watch(sb.name);
      return sb;
    },
  });
  for (const [name, handle] of Object.entries(handles)) {
    const file = path.join(FIXTURES_DIR, `${name}.json`);
    writeFileSync(file, `${historyToJson(await handle.fetchHistory())}\n`);
    process.stdout.write(`  wrote ${path.relative(process.cwd(), file)}\n`);
  }
}

async function stopRecorder(rec: Recorder): Promise<void> {
  const { docker, sandbox, sandboxes } = rec;
  // Replicas a P1-3 run left behind (it scales down, but not if it failed half-way).
  const replicas = await docker
    .listContainers({ all: true, filters: { label: ['accubooks.scaled-for'] } })
    .catch(() => []);
  await Promise.allSettled([
    ...[sandbox, ...sandboxes].map((s) => s.remove()),
    ...replicas
      .filter((c) => sandboxes.some((s) => c.Labels['accubooks.scaled-for'] === s.name))
      .map((c) => docker.getContainer(c.Id).remove({ force: true })),
  ]);
  await Promise.allSettled([
    rec.env.teardown(),
    rec.pagerDuty.close(),
    rec.slack.close(),
    rec.prom.stop(),
    rec.world.close(),
    rec.stripe.close(),
    rec.admin.end(),
    rec.clients.close(),
  ]);
}

if (require.main === module) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    process.stderr.write(
      `record-histories: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
    process.exit(1);
  });
}
