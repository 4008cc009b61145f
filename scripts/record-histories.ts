/**
 * Records the histories of every runbook's main paths (test/replay/scenarios.ts) as JSON fixtures in
 * test/fixtures/histories/, for the replay test. Runs on the time-skipping server with the real
 * activities against a private sandbox container and local HTTP receivers.
 *
 *   source .stack/test/env && npm run build && node dist/scripts/record-histories.js [name-prefix ...]
 *
 * With prefixes, only the matching scenarios are recorded (e.g. `P0-2` after changing P0-2 on purpose,
 * see docs/runbook-changes.md); existing fixtures of other scenarios are left alone.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Worker } from '@temporalio/worker';
import { historyToJson } from '../client/report/proto-json';
import { createActivities } from '../activities';
import { createIncidentMetrics, incidentMetricsSinks } from '../worker/metrics';
import { testClients } from '../test/helpers/deps';
import { uniqueId } from '../test/helpers/env';
import { startReceiver } from '../test/helpers/receivers';
import { startSandbox } from '../test/helpers/sandbox';
import { timeSkippingEnv, workflowsPath } from '../test/helpers/temporal';
import { SCENARIOS } from '../test/replay/scenarios';

export const FIXTURES_DIR = path.resolve(__dirname, '../../test/fixtures/histories');

async function main(prefixes: string[]): Promise<void> {
  const chosen = SCENARIOS.filter((s) => !prefixes.length || prefixes.some((p) => s.name.startsWith(p)));
  if (!chosen.length) throw new Error(`no scenario matches ${prefixes.join(', ')}`);
  mkdirSync(FIXTURES_DIR, { recursive: true });
  const [env, sandbox, pagerDuty, slack] = await Promise.all([
    timeSkippingEnv(),
    startSandbox('abk-record'),
    startReceiver(),
    startReceiver(),
  ]);
  const clients = testClients({
    health: { apiUrls: { [sandbox.name]: sandbox.url } },
    notify: {
      pagerDutyEventsUrl: `${pagerDuty.url}/v2/enqueue`,
      pagerDutyRoutingKey: 'recorder-routing-key',
      slackWebhookUrl: `${slack.url}/hooks/recorder`,
    },
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
      const handles = await scenario.run({ env, taskQueue, sandbox, id: uniqueId });
      for (const [name, handle] of Object.entries(handles)) {
        const file = path.join(FIXTURES_DIR, `${name}.json`);
        writeFileSync(file, `${historyToJson(await handle.fetchHistory())}\n`);
        process.stdout.write(`  wrote ${path.relative(process.cwd(), file)}\n`);
      }
    }
  } finally {
    worker.shutdown();
    await running;
    await Promise.all([env.teardown(), sandbox.remove(), pagerDuty.close(), slack.close(), clients.close()]);
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
