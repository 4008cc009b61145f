/**
 * What a dry run must leave untouched, observed from outside the runbooks: the Docker engine's
 * `/events` (no container created, started, stopped, killed, restarted, paused, removed), PostgreSQL
 * (no session terminated: `pg_stat_database.sessions_killed`; `billing_config` unchanged), Redis (no
 * key added, changed or removed among the flags the runbooks set) and the Stripe proxy (no refund).
 */
import type Docker from 'dockerode';
import type { Pool } from 'pg';
import type Redis from 'ioredis';
import type { StripeProxy } from '../../rig/stripe-proxy';

const MUTATING_EVENTS = ['create', 'start', 'stop', 'kill', 'die', 'restart', 'pause', 'unpause', 'destroy'];

export interface World {
  docker: Docker;
  pg: Pool;
  redis: Redis;
  stripe?: StripeProxy;
  /** The billing switches this test's sandboxes read (other suites may flip their own meanwhile). */
  billingKeys: string[];
}

interface Snapshot {
  sinceSec: number;
  killed: number;
  billing: unknown[];
  redis: Record<string, string | null>;
  refunds: number;
}

async function snapshot(w: World, sinceSec: number): Promise<Snapshot> {
  const killed = await w.pg.query<{ n: string }>(
    'SELECT COALESCE(sum(sessions_killed), 0)::text AS n FROM pg_stat_database',
  );
  const billing = await w.pg
    .query<Record<string, unknown>>('SELECT * FROM billing_config WHERE key = ANY($1) ORDER BY 1', [
      w.billingKeys,
    ])
    .then((r): unknown[] => r.rows)
    .catch((): unknown[] => ['no billing_config table']);
  // The runbooks' flags: the pause flag(s) (P1-3) and anything named like one.
  const keys = (await w.redis.keys('*paused*')).concat(await w.redis.keys('*flag*')).sort();
  const redis: Record<string, string | null> = {};
  for (const k of keys) redis[k] = await w.redis.get(k).catch(() => '(not a string)');
  return {
    sinceSec,
    killed: Number(killed.rows[0].n),
    billing,
    redis,
    refunds: w.stripe?.refunds().length ?? 0,
  };
}

/** Docker's container events between two times (the stream ends at `untilSec`). */
async function containerEvents(docker: Docker, sinceSec: number, untilSec: number): Promise<string[]> {
  const stream = await docker.getEvents({
    since: sinceSec,
    until: untilSec,
    filters: { type: ['container'], event: MUTATING_EVENTS },
  });
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(Buffer.from(c as Buffer));
  return Buffer.concat(chunks)
    .toString()
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const e = JSON.parse(l) as { Action: string; Actor?: { Attributes?: { name?: string } } };
      return `${e.Action} ${e.Actor?.Attributes?.name ?? '?'}`;
    });
}

/** Start watching; `changes()` then lists every side effect seen since (none, for a dry run). */
export async function watchSideEffects(w: World): Promise<{ changes(): Promise<string[]> }> {
  // Docker's events are stamped in whole seconds: begin at the next one, after what came before.
  await new Promise((r) => setTimeout(r, 1_000 - (Date.now() % 1_000) + 20));
  const before = await snapshot(w, Math.floor(Date.now() / 1000));
  return {
    async changes() {
      // The engine's clock is in seconds: wait into the next one so the window is whole.
      await new Promise((r) => setTimeout(r, 1_100));
      const after = await snapshot(w, before.sinceSec);
      const out = (await containerEvents(w.docker, before.sinceSec, Math.floor(Date.now() / 1000))).map(
        (e) => `docker: ${e}`,
      );
      if (after.killed !== before.killed)
        out.push(`postgres: ${after.killed - before.killed} session(s) terminated`);
      if (JSON.stringify(after.billing) !== JSON.stringify(before.billing))
        out.push(
          `postgres: billing_config ${JSON.stringify(before.billing)} -> ${JSON.stringify(after.billing)}`,
        );
      if (JSON.stringify(after.redis) !== JSON.stringify(before.redis))
        out.push(`redis: ${JSON.stringify(before.redis)} -> ${JSON.stringify(after.redis)}`);
      if (after.refunds !== before.refunds)
        out.push(`stripe: ${after.refunds - before.refunds} refund request(s)`);
      return out;
    },
  };
}
