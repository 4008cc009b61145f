/**
 * Outages of the stack's own services (scripts/stack.sh, one STACK_DIR per test run): stop one by
 * its recorded pid, start it again with `scripts/stack.sh start <svc>` (same ports, same data), and
 * count the connections a process holds to each of them, from /proc and from the servers
 * themselves (pg_stat_activity, Redis CLIENT LIST).
 */
import { execFile } from 'node:child_process';
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { Client as PgClient } from 'pg';
import { Redis } from 'ioredis';
import { need } from './env';

const run = promisify(execFile);
const repo = path.join(__dirname, '..');

export type StackService = 'postgres' | 'redis' | 'dockerd' | 'stripe-mock' | 'prometheus';

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
};

export function recordedPid(svc: StackService): number {
  return Number(readFileSync(path.join(need('STACK_DIR'), `${svc}.pid`), 'utf8').trim());
}

/** Stops a service by its recorded pid (PostgreSQL: SIGINT, its fast shutdown) and waits until it is gone. */
export async function stopService(svc: StackService): Promise<void> {
  const pid = recordedPid(svc);
  process.kill(pid, svc === 'postgres' ? 'SIGINT' : 'SIGTERM');
  const deadline = Date.now() + 40_000;
  while (alive(pid)) {
    if (Date.now() > deadline) throw new Error(`${svc} (pid ${pid}) did not stop within 40 s`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** `scripts/stack.sh start <svc>`: the same ports and data as before. */
export async function startService(svc: StackService): Promise<void> {
  await run(path.join(repo, 'scripts/stack.sh'), ['start', svc], {
    env: process.env,
    timeout: 120_000,
  });
}

/** Local TCP ports of the sockets a process holds, by remote port (ESTABLISHED only). */
export function socketsOf(pid: number): {
  fds: number;
  sockets: number;
  byRemotePort: Map<number, number[]>;
} {
  const inodes = new Set<string>();
  const fds = readdirSync(`/proc/${pid}/fd`);
  for (const fd of fds) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) inodes.add(m[1]);
    } catch {
      // closed meanwhile
    }
  }
  const byRemotePort = new Map<number, number[]>();
  for (const file of ['tcp', 'tcp6']) {
    let text = '';
    try {
      text = readFileSync(`/proc/${pid}/net/${file}`, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10 || f[3] !== '01' || !inodes.has(f[9])) continue; // 01 = ESTABLISHED
      const local = parseInt(f[1].split(':')[1], 16);
      const remote = parseInt(f[2].split(':')[1], 16);
      byRemotePort.set(remote, [...(byRemotePort.get(remote) ?? []), local]);
    }
  }
  return { fds: fds.length, sockets: inodes.size, byRemotePort };
}

const portOf = (url: string) => Number(new URL(url).port);

export interface Connections {
  /** Open file descriptors of the worker process. */
  fds: number;
  /** Sockets among them. */
  sockets: number;
  /** The worker's sessions as PostgreSQL sees them (application_name accubooks-runbooks); null while it is down. */
  pgSessions: number | null;
  /** The worker's TCP connections to PostgreSQL, from /proc. */
  pgTcp: number;
  /** The worker's clients as Redis sees them (CLIENT LIST, matched by the worker's local ports); null while down. */
  redisClients: number | null;
  redisTcp: number;
  /** TCP connections to the Docker engine are over its unix socket: not counted here. */
  temporalTcp: number;
  stripeTcp: number;
  prometheusTcp: number;
}

async function pgSessions(): Promise<number | null> {
  const admin = new PgClient({ connectionString: need('PG_ADMIN_URL'), connectionTimeoutMillis: 2000 });
  admin.on('error', () => undefined);
  try {
    await admin.connect();
    const r = await admin.query<{ n: string }>(
      `SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = 'accubooks-runbooks'`,
    );
    return Number(r.rows[0].n);
  } catch {
    return null;
  } finally {
    await admin.end().catch(() => undefined);
  }
}

async function redisClientsOf(localPorts: number[]): Promise<number | null> {
  const redis = new Redis(need('REDIS_URL'), {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => null,
    connectTimeout: 2000,
  });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
    const list = (await redis.client('LIST')) as string;
    return list
      .split('\n')
      .map((l) => /\baddr=[^:\s]+:(\d+)/.exec(l)?.[1])
      .filter((p) => p !== undefined && localPorts.includes(Number(p))).length;
  } catch {
    return null;
  } finally {
    redis.disconnect();
  }
}

/** What the worker holds now, from /proc and from the servers. */
export async function connectionsOf(pid: number): Promise<Connections> {
  const s = socketsOf(pid);
  const tcp = (port: number) => s.byRemotePort.get(port)?.length ?? 0;
  const redisPort = portOf(need('REDIS_URL'));
  const [pg, redis] = await Promise.all([pgSessions(), redisClientsOf(s.byRemotePort.get(redisPort) ?? [])]);
  return {
    fds: s.fds,
    sockets: s.sockets,
    pgSessions: pg,
    pgTcp: tcp(portOf(need('RUNBOOK_DATABASE_URL'))),
    redisClients: redis,
    redisTcp: tcp(redisPort),
    temporalTcp: tcp(Number(need('TEMPORAL_ADDRESS').split(':').pop())),
    stripeTcp: tcp(portOf(need('STRIPE_API_BASE'))),
    prometheusTcp: tcp(portOf(need('PROMETHEUS_URL'))),
  };
}

/** Short text for the table: "fds 41, sockets 12, pg 1/1, redis 1/1, temporal 2". */
export const describeConnections = (c: Connections) =>
  `fds ${c.fds}, sockets ${c.sockets}, pg ${c.pgSessions ?? '-'}/${c.pgTcp}, redis ${c.redisClients ?? '-'}/${c.redisTcp}, temporal ${c.temporalTcp}`;
