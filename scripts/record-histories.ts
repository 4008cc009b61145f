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
import { RECORDER_INCIDENT_OWNERS, SCENARIOS } from '../rig/replay-scenarios';

export const FIXTURES_DIR = path.resolve(__dirname, '../../test/fixtures/histories');

async function main(prefixes: string[]): Promise<void> {
  const chosen = SCENARIOS.filter((s) => !prefixes.length || prefixes.some((p) => s.name.startsWith(p)));
  if (!chosen.length) throw new Error(`no scenario matches ${prefixes.join(', ')}`);
  mkdirSync(FIXTURES_DIR, { recursive: true });
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
  const taskQueue = uniqueId('record');
  const worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue,
    workflowsPath,
    activities: createActivities(clients.deps),
    sinks: incidentMetricsSinks(createIncidentMetrics()),
  });
  const running = worker.run();
  try {
    for (const scenario of chosen) {
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
  } finally {
    worker.shutdown();
    await running;
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
      env.teardown(),
      pagerDuty.close(),
      slack.close(),
      prom.stop(),
      world.close(),
      stripe.close(),
      admin.end(),
      clients.close(),
    ]);
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    process.stderr.write(
      `record-histories: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
    process.exit(1);
  });
}
