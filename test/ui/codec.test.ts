/**
 * The Web UI with the codec on, in headless Chromium: the Temporal server keeps only ciphertext, and a
 * person sees clear payloads only after signing in to the codec server (its own form, in the same
 * browser), with the UI's Codec Server setting pointing at it and "include cross-origin credentials"
 * on. Their "Send a Signal" payload is encoded through the codec server, so it too is stored sealed.
 *
 * Self-contained, so it runs in the main suite (whose stack has the codec off): its own dev server
 * (TEMPORAL_CLI_PATH, --ui-codec-endpoint), its own codec server in-process, its own worker and
 * client with the codec. Screenshots go to test-artifacts/ui/codec-*.png.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, type Worker } from '@temporalio/worker';
import { SearchAttributeType } from '@temporalio/common';
import type { FastifyInstance } from 'fastify';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { createActivities } from '../../activities';
import { AesGcmCodec, generateCodecKey, parseCodecKeys } from '../../common/codec';
import { buildCodecServer } from '../../client/codec-server';
import { startIncident } from '../../client/incidents';
import { stateQuery } from '../../definitions/messages';
import { FOLLOW_UP_SEARCH_ATTRIBUTES, INCIDENT_SEARCH_ATTRIBUTES } from '../../workflows/search-attributes';
import { targetLeaseWorkflowId } from '../../definitions/target-guard';
import type { IncidentState } from '../../definitions/types';
import type { WorkerClients } from '../../worker/clients';
import { launchChromium, screenshot } from '../../rig/browser';
import { testClients } from '../../rig/deps';
import { need, uniqueId } from '../../rig/env';
import { waitUntil } from '../../rig/sandbox';
import { createTestWorker } from '../../rig/temporal';
import { openWorkflow, readUserMetadata, sendSignalThroughUi } from '../../rig/temporal-ui';

const keys = parseCodecKeys(generateCodecKey('ui')).keys;
const codec = new AesGcmCodec(keys);
const token = randomBytes(16).toString('hex');
const taskQueue = uniqueId('ui-codec');

let devServer: ChildProcess;
let devServerLog = '';
let address: string;
let uiUrl: string;
let codecServer: FastifyInstance;
let codecUrl: string;
const codecCalls: { url: string; status: number; cookie: boolean; origin?: string }[] = [];
let clients: WorkerClients;
let workerConnection: NativeConnection;
let worker: Worker;
let running: Promise<void>;
let client: Client;
let raw: Client;
let browser: Browser;
let context: BrowserContext;
let page: Page;

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

const saType: Partial<Record<SearchAttributeType, string>> = {
  [SearchAttributeType.KEYWORD]: 'Keyword',
  [SearchAttributeType.BOOL]: 'Bool',
  [SearchAttributeType.KEYWORD_LIST]: 'KeywordList',
};

async function startDevServer(uiPort: number, codecEndpoint: string): Promise<void> {
  const [port, httpPort, metricsPort] = [await freePort(), await freePort(), await freePort()];
  address = `127.0.0.1:${port}`;
  uiUrl = `http://127.0.0.1:${uiPort}`;
  const args = [
    'server',
    'start-dev',
    '--ip',
    '127.0.0.1',
    '--port',
    String(port),
    '--ui-port',
    String(uiPort),
    '--http-port',
    String(httpPort),
    '--metrics-port',
    String(metricsPort),
    '--namespace',
    'default',
    '--log-level',
    'warn',
    '--ui-disable-news-fetch',
    '--ui-codec-endpoint',
    codecEndpoint,
    ...[...INCIDENT_SEARCH_ATTRIBUTES, ...FOLLOW_UP_SEARCH_ATTRIBUTES].flatMap((k) => [
      '--search-attribute',
      `${k.name}=${saType[k.type]}`,
    ]),
  ];
  devServer = spawn(need('TEMPORAL_CLI_PATH'), args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const keep = (b: Buffer) => (devServerLog = (devServerLog + b.toString()).slice(-4000));
  devServer.stdout!.on('data', keep);
  devServer.stderr!.on('data', keep);
  await waitUntil(
    'the dev server and its Web UI',
    async () => {
      if (devServer.exitCode !== null) throw new Error(`dev server exited: ${devServerLog}`);
      const ui = await fetch(uiUrl).catch(() => undefined);
      if (!ui?.ok) return false;
      const settings = (await (await fetch(`${uiUrl}/api/v1/settings`)).json()) as {
        Codec?: { Endpoint?: string };
      };
      return settings.Codec?.Endpoint === codecEndpoint;
    },
    30_000,
  );
}

/** The UI's Codec Server dialog, as a person fills it once per browser: endpoint, include credentials. */
async function setCodecServerInUi(p: Page): Promise<void> {
  await p.locator('[data-testid^="data-encoder-status"]').first().click();
  const dialog = p.locator('#data-encoder-settings');
  await dialog.getByTestId('use-local-endpoint-input').check({ force: true });
  await dialog.locator('#data-encoder-endpoint-input').fill(`${codecUrl}/codec`);
  await dialog.getByTestId('data-encoder-include-credentials').check({ force: true });
  await dialog.getByRole('button', { name: 'Apply' }).click();
}

/** The codec server's own sign-in page: the token is typed there, never into the UI's page. */
async function signInToCodecServer(p: Page): Promise<void> {
  await p.goto(`${codecUrl}/`);
  await p.getByLabel('Token').fill(token);
  await p.getByRole('button', { name: 'Sign in' }).click();
  await p.locator('#status', { hasText: 'Signed in' }).waitFor({ timeout: 10_000 });
}

/** The page's visible text once it matches (the UI fills panels as its requests answer). */
async function bodyTextMatching(p: Page, re: RegExp, timeoutMs = 15_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const text = await p.locator('body').innerText();
    if (re.test(text)) return text;
    if (Date.now() > deadline) throw new Error(`the page never showed ${re}:\n${text.slice(0, 3000)}`);
    await p.waitForTimeout(250);
  }
}

beforeAll(async () => {
  const uiPort = await freePort();
  codecServer = await buildCodecServer({
    token,
    corsOrigins: [`http://127.0.0.1:${uiPort}`],
    codecKeys: keys,
  });
  codecServer.addHook('onResponse', async (req, reply) => {
    if (req.url.startsWith('/codec/'))
      codecCalls.push({
        url: req.url,
        status: reply.statusCode,
        cookie: /abk_codec_session=/.test(req.headers.cookie ?? ''),
        origin: req.headers.origin,
      });
  });
  codecUrl = await codecServer.listen({ host: '127.0.0.1', port: 0 });
  await startDevServer(uiPort, `${codecUrl}/codec`);

  clients = testClients({ health: { apiUrls: {} } });
  workerConnection = await NativeConnection.connect({ address });
  worker = await createTestWorker({
    connection: workerConnection,
    taskQueue,
    activities: createActivities(clients.deps),
    dataConverter: { payloadCodecs: [codec] },
  });
  running = worker.run();
  const connection = await Connection.connect({ address });
  client = new Client({ connection, dataConverter: { payloadCodecs: [codec] } });
  raw = new Client({ connection });
  browser = await launchChromium();
  context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
  page = await context.newPage();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  worker?.shutdown();
  await running;
  await workerConnection?.close();
  await client?.connection.close();
  await clients?.close();
  if (devServer && devServer.exitCode === null) {
    const exited = new Promise((r) => devServer.once('exit', r));
    devServer.kill('SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
    if (devServer.exitCode === null) devServer.kill('SIGKILL');
  }
  devServer?.stdout?.destroy();
  devServer?.stderr?.destroy();
  await codecServer?.close();
});

test('encrypted until the person signs in to the codec server; then clear, and their Send a Signal is encoded and accepted', async () => {
  const marker = `codec-ui-marker-${Date.now()}`;
  const workflowId = uniqueId('ui-codec-incident');
  const target = uniqueId('abk-ui-codec');
  const handle = await startIncident({
    client,
    taskQueue,
    runbook: 'P0-1',
    target,
    trigger: { source: 'manual', startedBy: 'ui codec test', description: marker },
    workflowId,
  });
  await waitUntil('the first step', async () => (await handle.query(stateQuery)).steps.length > 0, 30_000);

  // 1. The person has pointed the UI at the codec server (once per browser) but not signed in: the
  //    UI's credentialed requests carry no session, the codec server answers 401, and the UI shows
  //    the stored ciphertext and says it could not reach the codec server.
  await openWorkflow(page, uiUrl, workflowId);
  await setCodecServerInUi(page);
  await openWorkflow(page, uiUrl, workflowId);
  await page.getByTestId('data-encoder-status-error').waitFor({ timeout: 15_000 });
  // The input, as stored: AES-GCM ciphertext (base64), where the clear JSON would be.
  const locked = await bodyTextMatching(page, /"[A-Za-z0-9+/]{120,}={0,2}"/);
  await screenshot(page, 'codec-not-signed-in');
  expect(locked).not.toContain(marker);
  expect(locked).not.toContain('"startedBy"');
  const refused = codecCalls.filter((c) => c.url.startsWith('/codec/decode'));
  expect(refused.length).toBeGreaterThan(0);
  expect(refused.every((c) => !c.cookie && (c.status === 401 || c.status === 204))).toBe(true);

  // 2. They sign in on the codec server's own page, in the same browser: now the same UI page shows
  //    the input and the runbook's current state in clear.
  const signIn = await context.newPage();
  await signInToCodecServer(signIn);
  await screenshot(signIn, 'codec-signed-in-form');
  await signIn.close();
  const signedInFrom = codecCalls.length;
  await openWorkflow(page, uiUrl, workflowId);
  await page.getByText(marker).first().waitFor({ timeout: 15_000 });
  const clear = await page.locator('body').innerText();
  await page.getByTestId('data-encoder-status-success').waitFor();
  expect(clear).toContain(`"target": "${target}"`);
  expect(clear).toContain(`"description": "${marker}"`);
  const metadata = await readUserMetadata(page);
  await screenshot(page, 'codec-signed-in');
  expect(metadata).toContain(`P0-1 System down: ${target}`);
  expect(metadata).toMatch(/Status\s+\w+/);
  const opened = codecCalls.slice(signedInFrom).filter((c) => c.url.startsWith('/codec/decode'));
  expect(opened.some((c) => c.status === 200 && c.cookie && c.origin === uiUrl)).toBe(true);

  // 3. They resolve it with Send a Signal: the UI encodes the payload through the codec server, the
  //    worker decrypts and accepts it, and the history keeps the reason sealed.
  //    (The target does not exist, so the runbook's own health check refuses the claim: recorded.)
  const reason = `resolved-through-ui-${Date.now()}`;
  await sendSignalThroughUi(page, 'resolve', { by: 'Jane On-call', reason });
  const deadline = Date.now() + 45_000;
  let final = await handle.query<IncidentState>('state');
  while (!final.closeRequests?.some((c) => c.outcome === 'refused') && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 200));
    final = await handle.query<IncidentState>('state');
  }
  await Promise.allSettled(
    [workflowId, targetLeaseWorkflowId(target)].map((id) =>
      client.workflow.getHandle(id).terminate('ui codec test finished'),
    ),
  );
  expect(final.closeRequests?.[0]).toMatchObject({
    action: 'resolve',
    by: 'Jane On-call',
    reason,
    outcome: 'refused',
  });
  expect(codecCalls.some((c) => c.url.startsWith('/codec/encode') && c.status === 200 && c.cookie)).toBe(
    true,
  );
  const history = JSON.stringify(await raw.workflow.getHandle(workflowId).fetchHistory());
  expect(history).not.toContain(marker);
  expect(history).not.toContain(reason);
  await openWorkflow(page, uiUrl, workflowId);
  await screenshot(page, 'codec-after-resolve');
}, 90_000);
