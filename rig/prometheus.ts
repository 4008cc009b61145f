/**
 * A private Prometheus (the Debian `prometheus` binary) per test file, scraping the test's own
 * sandbox containers every second. The stack's Prometheus only scrapes `accubooks-api`; tests that
 * drive their own containers into faults need their own numbers.
 *
 * Targets come from file-based service discovery: a sync loop lists the Docker containers whose
 * name starts with one of the given prefixes (the sandbox and the replicas a runbook starts, named
 * `<sandbox>-fw-<n>`) and writes their `accubooks.sandbox.port` into a targets file.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type Docker from 'dockerode';
import { freePort, waitUntil } from './sandbox';

export interface TestPrometheus {
  url: string;
  /** Container name prefixes to scrape (a sandbox's name covers its replicas too). */
  watch(prefix: string): void;
  /** Resolves once Prometheus has a sample of `query` with a value passing `ok`. */
  waitFor(query: string, ok: (v: number) => boolean, timeoutMs?: number): Promise<number>;
  query(query: string): Promise<number | null>;
  stop(): Promise<void>;
}

export async function startTestPrometheus(docker: Docker): Promise<TestPrometheus> {
  const dir = mkdtempSync(path.join(tmpdir(), 'abk-prom-'));
  const port = await freePort();
  const targetsFile = writeConfig(dir);
  const url = `http://127.0.0.1:${port}`;
  const prometheus = spawnPrometheus(dir, port);
  const targets = syncTargets(docker, targetsFile);
  const query = (q: string): Promise<number | null> => queryPrometheus(url, q);

  await waitUntil(
    'test Prometheus to be ready',
    async () => {
      if (prometheus.proc.exitCode !== null) throw new Error(`prometheus exited: ${prometheus.log()}`);
      try {
        return (await fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(1000) })).ok;
      } catch {
        return false;
      }
    },
    30_000,
  );

  return {
    url,
    watch: (prefix) => {
      targets.prefixes.add(prefix);
    },
    query,
    async waitFor(q, ok, timeoutMs = 30_000) {
      let value: number | null = null;
      await waitUntil(
        `Prometheus: ${q}`,
        async () => {
          value = await query(q).catch(() => null);
          return value !== null && ok(value);
        },
        timeoutMs,
      );
      return value as unknown as number;
    },
    async stop() {
      targets.stop();
      const proc = prometheus.proc;
      if (proc.exitCode === null) {
        const exited = new Promise((r) => proc.once('exit', r));
        proc.kill('SIGTERM');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Writes prometheus.yml (scrape every second, targets from a file) and an empty targets file. */
function writeConfig(dir: string): string {
  const targetsFile = path.join(dir, 'targets.json');
  writeFileSync(targetsFile, '[]');
  writeFileSync(
    path.join(dir, 'prometheus.yml'),
    [
      'global: {scrape_interval: 1s, scrape_timeout: 1s, evaluation_interval: 1s}',
      'scrape_configs:',
      '  - job_name: test-sandboxes',
      '    file_sd_configs:',
      `      - files: ['${targetsFile}']`,
      '        refresh_interval: 1s',
      '',
    ].join('\n'),
  );
  return targetsFile;
}

/** Starts the binary; `log()` is the tail of its stderr, for the error when it exits early. */
function spawnPrometheus(dir: string, port: number): { proc: ChildProcess; log(): string } {
  let log = '';
  const proc: ChildProcess = spawn(
    'prometheus',
    [
      `--config.file=${path.join(dir, 'prometheus.yml')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      `--storage.tsdb.path=${path.join(dir, 'data')}`,
      '--log.level=warn',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  proc.stderr!.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-4000)));
  return { proc, log: () => log };
}

/** Every 300 ms, writes the watched containers' ports into the targets file (when they changed). */
function syncTargets(docker: Docker, targetsFile: string): { prefixes: Set<string>; stop(): void } {
  const prefixes = new Set<string>();
  let last = '';
  const sync = async () => {
    if (prefixes.size === 0) return;
    const containers = await docker.listContainers({ filters: { label: ['accubooks.sandbox.port'] } });
    const targets = containers
      .filter((c) => c.Names.some((n) => [...prefixes].some((p) => n.replace(/^\//, '').startsWith(p))))
      .map((c) => `127.0.0.1:${c.Labels['accubooks.sandbox.port']}`)
      .sort();
    const text = JSON.stringify([{ targets, labels: {} }]);
    if (text === last) return;
    last = text;
    writeFileSync(`${targetsFile}.tmp`, text);
    renameSync(`${targetsFile}.tmp`, targetsFile);
  };
  let syncing = false;
  const timer = setInterval(() => {
    if (syncing) return;
    syncing = true;
    sync()
      .catch(() => undefined)
      .finally(() => (syncing = false));
  }, 300);
  return { prefixes, stop: () => clearInterval(timer) };
}

async function queryPrometheus(url: string, q: string): Promise<number | null> {
  const res = await fetch(`${url}/api/v1/query`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ query: q }).toString(),
    signal: AbortSignal.timeout(3000),
  });
  const body = (await res.json()) as { data?: { result?: { value: [number, string] }[] } };
  const v = Number(body.data?.result?.[0]?.value[1]);
  return Number.isFinite(v) ? v : null;
}
