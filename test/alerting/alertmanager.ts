/**
 * The stack's real Alertmanager (ALERTMANAGER_URL), through its v2 API: alerts posted as Prometheus
 * posts them, silences, and what it holds. Also the intake these suites run where that Alertmanager
 * sends (STACK_INTAKE_PORT, bearer STACK_INTAKE_TOKEN), recording every alert it was handed.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { IncidentGateway } from '../../client/intake/delivery';
import type { IntakeOptions } from '../../client/intake/server';
import type { MappedAlert } from '../../client/intake/schema';
import { need } from '../../rig/env';
import { freePort, waitUntil } from '../../rig/sandbox';
import { startIntakeRig, type IntakeRig } from '../intake/rig';

export const alertmanagerUrl = () => need('ALERTMANAGER_URL');

export interface OwnAlertmanager {
  url: string;
  /** Its config folder (for secret files the config names). */
  dir: string;
  /** Its log so far (for assertion messages). */
  log(): string;
  close(): Promise<void>;
}

/**
 * A real Alertmanager of the test's own, on a free port, for receiver settings the stack's must not
 * have (max_alerts, basic auth, grouping across targets). `config(dir)` returns its YAML; the
 * config is checked with amtool first, so a mistake in it fails with amtool's message.
 */
export async function startOwnAlertmanager(config: (dir: string) => string): Promise<OwnAlertmanager> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'abk-am-'));
  const file = path.join(dir, 'alertmanager.yml');
  writeFileSync(file, config(dir));
  const check = spawnSync('amtool', ['check-config', file], { encoding: 'utf8' });
  if (check.status !== 0)
    throw new Error(`test Alertmanager config invalid:\n${check.stdout}${check.stderr}`);
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  let output = '';
  // No HA gossip (--cluster.listen-address=): it would bind *:9094, which the stack's may hold.
  const proc = spawn(
    'prometheus-alertmanager',
    [
      `--config.file=${file}`,
      `--storage.path=${path.join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      `--web.external-url=${url}`,
      '--cluster.listen-address=',
      '--log.level=info',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  proc.stdout.on('data', (d: Buffer) => (output += d.toString()));
  proc.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  const close = async () => {
    if (proc.exitCode === null) proc.kill('SIGTERM');
    await exited;
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitUntil(`the test Alertmanager on ${url} to be ready`, async () => {
      if (proc.exitCode !== null) throw new Error(`the test Alertmanager exited: ${output.slice(-2000)}`);
      return (await fetch(`${url}/-/ready`).catch(() => undefined))?.ok === true;
    });
  } catch (err) {
    await close();
    throw err;
  }
  return { url, dir, log: () => output, close };
}

/** waitUntil for a condition on what was already recorded (no I/O). */
export const waitFor = (what: string, cond: () => boolean, timeoutMs?: number) =>
  waitUntil(what, () => Promise.resolve(cond()), timeoutMs);

async function am<T>(method: string, path: string, body?: unknown, base = alertmanagerUrl()): Promise<T> {
  const res = await fetch(`${base}/api/v2${path}`, {
    method,
    headers: body ? { 'content-type': 'application/json' } : {},
    body: body ? JSON.stringify(body) : undefined,
    signal: AbortSignal.timeout(5000),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`Alertmanager ${method} ${path}: HTTP ${res.status} ${text}`);
  return (text ? JSON.parse(text) : undefined) as T;
}

export interface PostedAlert {
  labels: Record<string, string>;
  annotations?: Record<string, string>;
  startsAt?: string;
  endsAt?: string;
  generatorURL?: string;
}

/** Posts alerts to Alertmanager as Prometheus does (POST /api/v2/alerts); default the stack's. */
export const postAlerts = (alerts: PostedAlert[], base?: string) => am<void>('POST', '/alerts', alerts, base);

export interface HeldAlert {
  labels: Record<string, string>;
  startsAt: string;
  fingerprint: string;
  status: { state: 'active' | 'suppressed' | 'unprocessed'; silencedBy: string[]; inhibitedBy: string[] };
}

/** The alerts Alertmanager holds that carry these labels. */
export async function heldAlerts(labels: Record<string, string>): Promise<HeldAlert[]> {
  const filter = Object.entries(labels)
    .map(([k, v]) => `filter=${encodeURIComponent(`${k}="${v}"`)}`)
    .join('&');
  return am<HeldAlert[]>('GET', `/alerts?${filter}`);
}

/** A silence for these labels (exact matches) for `minutes`; returns its ID. */
export async function createSilence(labels: Record<string, string>, comment: string, minutes = 10) {
  const r = await am<{ silenceID: string }>('POST', '/silences', {
    matchers: Object.entries(labels).map(([name, value]) => ({ name, value, isRegex: false, isEqual: true })),
    startsAt: new Date().toISOString(),
    endsAt: new Date(Date.now() + minutes * 60_000).toISOString(),
    createdBy: 'test/alerting',
    comment,
  });
  return r.silenceID;
}

export const expireSilence = (id: string) => am<void>('DELETE', `/silence/${id}`);

/** Prometheus has this alert neither pending nor firing for this service. */
export async function ruleQuiet(alert: string, service: string): Promise<boolean> {
  const res = await fetch(`${need('PROMETHEUS_URL')}/api/v1/alerts`, { signal: AbortSignal.timeout(2000) });
  const body = (await res.json()) as { data: { alerts: { labels: Record<string, string> }[] } };
  return !body.data.alerts.some((a) => a.labels.alertname === alert && a.labels.service === service);
}

/** One alert the intake was handed by Alertmanager, with what the intake did with it. */
export interface Received {
  at: number;
  alert: MappedAlert;
  outcome?: string;
}

export interface AlertingRig extends IntakeRig {
  /** Every alert the intake's gateway was handed, in order. */
  received: Received[];
  /**
   * Alerts of one target the intake has dealt with (outcome known; alerts of earlier suites may
   * still be in Alertmanager's groups, hence the target).
   */
  of(target: string, alertName?: string): Received[];
}

/**
 * The intake where the stack's Alertmanager sends (or, with `ownPort`, a test Alertmanager), on
 * this test's task queue. `wrap` lets a test
 * put a fault in front of the real gateway (an intake that fails once, for Alertmanager's retries).
 */
export async function startAlertingRig(
  name: string,
  opts: {
    wrap?: (g: IncidentGateway) => IncidentGateway;
    intake?: Partial<IntakeOptions>;
    /** A free port, for an Alertmanager of the test's own (startOwnAlertmanager); default the stack's. */
    ownPort?: boolean;
    /** A worker on the rig's task queue (incidents answer queries; targets are unknown names). */
    worker?: boolean;
  } = {},
): Promise<AlertingRig> {
  const received: Received[] = [];
  const rig = await startIntakeRig(name, {
    port: opts.ownPort ? undefined : Number(need('STACK_INTAKE_PORT')),
    worker: opts.worker,
    intake: { auth: { bearerToken: need('STACK_INTAKE_TOKEN') }, ...opts.intake },
  });
  // The intake holds the gateway object it was built with: its methods are replaced in place,
  // over the originals.
  const inner = rig.gateway;
  const fire0 = inner.fire;
  const resolve0 = inner.resolve;
  const recording: IncidentGateway = {
    async fire(a) {
      const r: Received = { at: Date.now(), alert: a };
      received.push(r);
      const out = await fire0(a);
      r.outcome = out.outcome;
      return out;
    },
    async resolve(a) {
      const r: Received = { at: Date.now(), alert: a };
      received.push(r);
      const out = await resolve0(a);
      r.outcome = out.outcome;
      return out;
    },
    ready: () => inner.ready(),
    dryRun: (a) => inner.dryRun(a),
  };
  const g = opts.wrap ? opts.wrap(recording) : recording;
  inner.fire = g.fire;
  inner.resolve = g.resolve;
  return {
    ...rig,
    received,
    of: (target, alertName) =>
      received.filter(
        (r) =>
          r.outcome !== undefined &&
          r.alert.target === target &&
          (!alertName || r.alert.alertName === alertName),
      ),
  };
}

/** What the intake did with each alert, one line each (for assertion messages). */
export const describeReceived = (rs: Received[]) =>
  rs
    .map((r) => `${new Date(r.at).toISOString()} ${r.alert.alertName} ${r.alert.status} ${r.outcome}`)
    .join('\n');
