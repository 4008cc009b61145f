/**
 * Folding alert storms before they reach Temporal.
 *
 * Alertmanager re-sends every alert of a group at each group interval, and an outage fires many
 * alerts for one target at once. Each of them is information for the one incident of its runbook
 * and target; none may start a second run. Sending each as its own signal makes Temporal (and the
 * incident's history) pay per alert. Instead the intake records each alert in Redis (one script,
 * one round trip, then it answers) and a deliverer (the intake's delivery thread, fold-thread.ts)
 * sends, per incident, at most one counted `alert` signal per fold window:
 * `{...latest event, count: {firing, resolved}}`.
 *
 * Why Redis and not memory: an accepted alert must not be lost when the intake restarts, and
 * several intakes behind a balancer must share the counts. The pending counts live in one hash per
 * incident plus a set of incidents with something pending; taking them is one atomic script, so two
 * intakes never deliver the same alert twice. The first alert of an incident is delivered at once
 * (it starts the runbook: the first minutes matter); later ones wait for the window. What a
 * deliverer takes stays in Redis until Temporal has it: a failed send puts it back at once, and a
 * deliverer killed in between leaves it for the sweep to put back after a lease (at least once).
 */
import type { Client } from '@temporalio/client';
import { Redis } from 'ioredis';
import type { AlertEvent } from '../../definitions/types';
import { deliverAlert, type EpisodePolicy } from './episodes';
import type { MappedAlert } from './schema';

export interface FoldOptions {
  client: Client;
  taskQueue: string;
  redis: Redis;
  /** At most one signal per incident per window (ms). */
  windowMs: number;
  /** Incidents delivered at once. */
  concurrency?: number;
  /** Alert episodes of closed incidents (client/intake/episodes.ts); default twice the rule's `for:`. */
  episodes?: EpisodePolicy;
  /** Key prefix in Redis (several deployments may share one Redis). */
  prefix?: string;
  /**
   * How long a taken delivery may take before a sweep puts it back for another try (ms): the lease
   * of a deliverer that died between the take and Temporal's answer. Default 60 s.
   */
  leaseMs?: number;
  /** One line per delivery (never the labels or values). */
  log?: (level: 'info' | 'warn', fields: Record<string, unknown>, msg: string) => void;
  onDelivery?: (outcome: DeliveryOutcome, alerts: number) => void;
}

export type DeliveryOutcome = 'started' | 'joined' | 'recorded' | 'ignored' | 'retry';

/** What one incident has pending: counts, the latest event, and the latest firing alert (to start). */
interface Pending {
  firing: number;
  resolved: number;
  event?: AlertEvent;
  alert?: Omit<MappedAlert, 'index'>;
}

// Take everything pending for one incident, atomically, into its "taken" hash (with the time, in a
// sorted set): a deliverer that dies before Temporal answers leaves it there, and after the lease
// a sweep puts it back (RESTORE). While one delivery of an incident is under way (or died and is
// not yet restored), no other deliverer takes it: nil. KEYS: incident, pending set, taken hash,
// taken set; ARGV: workflow ID, now (ms).
const CLAIM = `
if redis.call('EXISTS', KEYS[3]) == 1 then return nil end
local v = redis.call('HGETALL', KEYS[1])
redis.call('SREM', KEYS[2], ARGV[1])
if #v == 0 then return v end
redis.call('RENAME', KEYS[1], KEYS[3])
redis.call('ZADD', KEYS[4], ARGV[2], ARGV[1])
return v`;

// Put a taken incident back into its pending hash (counts added, newer fields kept) when it was
// taken before ARGV[2] (ms): a failed send (cutoff: now) or a lease run out (cutoff: now - lease).
// KEYS: taken hash, incident, pending set, taken set; ARGV: workflow ID, cutoff.
const RESTORE = `
local at = redis.call('ZSCORE', KEYS[4], ARGV[1])
if not at or tonumber(at) > tonumber(ARGV[2]) then return 0 end
local t = redis.call('HGETALL', KEYS[1])
for i = 1, #t, 2 do
  if t[i] == 'firing' or t[i] == 'resolved' then redis.call('HINCRBY', KEYS[2], t[i], t[i + 1])
  else redis.call('HSETNX', KEYS[2], t[i], t[i + 1]) end
end
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[4], ARGV[1])
if #t > 0 then redis.call('SADD', KEYS[3], ARGV[1]) end
return 1`;

/**
 * The folding Redis client, the same for recording (HTTP thread) and delivering (delivery thread):
 * commands fail fast while Redis is down (the intake then sends alerts directly; a delivery is
 * retried by the sweep), and the connection comes back by itself.
 */
export function foldRedis(url: string): Redis {
  return new Redis(url, { maxRetriesPerRequest: 1, enableOfflineQueue: false });
}

const DEFAULT_PREFIX = 'accubooks:intake:fold';
const pendingKey = (prefix: string) => `${prefix}:pending`;
const incidentKey = (prefix: string, workflowId: string) => `${prefix}:incident:${workflowId}`;
const takenKey = (prefix: string, workflowId: string) => `${prefix}:taken:${workflowId}`;
const takenSetKey = (prefix: string) => `${prefix}:taken`;

/**
 * Takes what is pending for one incident for delivery (raw hash fields; nil while another delivery
 * of it is under way). Exported for the test that plays a deliverer dying after the take.
 */
export async function claimPending(
  redis: Redis,
  prefix: string | undefined,
  workflowId: string,
): Promise<string[] | null> {
  const p = prefix ?? DEFAULT_PREFIX;
  return (await redis.eval(
    CLAIM,
    4,
    incidentKey(p, workflowId),
    pendingKey(p),
    takenKey(p, workflowId),
    takenSetKey(p),
    workflowId,
    Date.now(),
  )) as string[] | null;
}

// Record one request's alerts in one command. KEYS[1]: the pending set; KEYS[i+1]: incident i's hash.
// ARGV, five per incident: workflow ID, firings, resolutions, the latest event, the first firing ('' if none).
const RECORD = `
for i = 2, #KEYS do
  local b = (i - 2) * 5
  local key = KEYS[i]
  if ARGV[b + 2] ~= '0' then redis.call('HINCRBY', key, 'firing', ARGV[b + 2]) end
  if ARGV[b + 3] ~= '0' then redis.call('HINCRBY', key, 'resolved', ARGV[b + 3]) end
  redis.call('HSET', key, 'event', ARGV[b + 4])
  if ARGV[b + 5] ~= '' then redis.call('HSETNX', key, 'alert', ARGV[b + 5]) end
  redis.call('SADD', KEYS[1], ARGV[b + 1])
end
return #KEYS - 1`;

/**
 * Records alerts in Redis, one command for the whole request (a Lua script: atomic, and a fraction
 * of the client CPU of a MULTI with four commands per alert): per incident its counts, the latest
 * event, the first firing (to start it with, should none run), and the incident in the pending set.
 * Returns the incidents touched.
 */
export async function recordAlerts(
  redis: Redis,
  prefix: string | undefined,
  alerts: MappedAlert[],
): Promise<string[]> {
  const p = prefix ?? DEFAULT_PREFIX;
  const byIncident = new Map<string, { firing: number; resolved: number; event: string; alert: string }>();
  for (const alert of alerts) {
    const { index: _index, ...rest } = alert;
    const i = byIncident.get(alert.workflowId) ?? { firing: 0, resolved: 0, event: '', alert: '' };
    i[alert.status === 'resolved' ? 'resolved' : 'firing']++;
    i.event = JSON.stringify(alert.event); // the latest wins
    if (alert.status === 'firing' && !i.alert) i.alert = JSON.stringify(rest);
    byIncident.set(alert.workflowId, i);
  }
  const ids = [...byIncident.keys()];
  if (!ids.length) return [];
  const args = [...byIncident].flatMap(([id, i]) => [
    id,
    String(i.firing),
    String(i.resolved),
    i.event,
    i.alert,
  ]);
  await redis.eval(RECORD, ids.length + 1, pendingKey(p), ...ids.map((id) => incidentKey(p, id)), ...args);
  return ids;
}

export class AlertFolder {
  private readonly prefix: string;
  private readonly dirtyKey: string;
  private readonly inFlight = new Set<string>();
  private readonly again = new Set<string>();
  private readonly lastSent = new Map<string, number>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly deliveries = new Set<Promise<void>>();
  private sweeper?: NodeJS.Timeout;
  private closed = false;
  private active = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly opts: FoldOptions) {
    this.prefix = opts.prefix ?? DEFAULT_PREFIX;
    this.dirtyKey = pendingKey(this.prefix);
  }

  /** Picks up what a previous intake left pending, then sweeps every window. */
  start(): void {
    const sweep = () => void this.sweep().catch((err) => this.warn('sweep failed', err));
    sweep();
    this.sweeper = setInterval(sweep, Math.max(250, this.opts.windowMs));
    this.sweeper.unref();
  }

  /** Records alerts durably, in one round trip (answering the caller may follow); delivery happens after. */
  async add(alerts: MappedAlert[]): Promise<void> {
    this.notify(await recordAlerts(this.opts.redis, this.prefix, alerts));
  }

  /** These incidents have alerts recorded (by this process or another thread): deliver them. */
  notify(workflowIds: Iterable<string>): void {
    for (const id of workflowIds) this.schedule(id);
  }

  /** Delivers everything pending now (shutdown), then stops. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.sweeper) clearInterval(this.sweeper);
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
    await Promise.allSettled([...this.deliveries]);
    const ids = await this.opts.redis.smembers(this.dirtyKey).catch(() => [] as string[]);
    await Promise.allSettled(ids.map((id) => this.deliver(id, true)));
  }

  /** Alerts recorded and not yet delivered (for /metrics and tests). */
  async pendingIncidents(): Promise<number> {
    return this.opts.redis.scard(this.dirtyKey);
  }

  private key(workflowId: string): string {
    return incidentKey(this.prefix, workflowId);
  }

  /** The first alert of an incident goes at once; later ones at most once per window. */
  private schedule(workflowId: string): void {
    if (this.closed) return;
    if (this.inFlight.has(workflowId)) {
      this.again.add(workflowId);
      return;
    }
    if (this.timers.has(workflowId)) return;
    const last = this.lastSent.get(workflowId);
    const wait = last === undefined ? 0 : Math.max(0, last + this.opts.windowMs - Date.now());
    if (wait === 0) {
      this.track(this.deliver(workflowId));
      return;
    }
    this.timers.set(
      workflowId,
      setTimeout(() => {
        this.timers.delete(workflowId);
        this.track(this.deliver(workflowId));
      }, wait),
    );
  }

  private track(p: Promise<void>): void {
    this.deliveries.add(p);
    void p.finally(() => this.deliveries.delete(p));
  }

  private async sweep(): Promise<void> {
    // Deliveries taken by a deliverer that died before Temporal answered come back after the lease
    // (at least once: had Temporal taken them just before, they are counted twice, never lost).
    const takenBefore = Date.now() - (this.opts.leaseMs ?? 60_000);
    for (const id of await this.opts.redis.zrangebyscore(takenSetKey(this.prefix), 0, takenBefore)) {
      if (this.inFlight.has(id)) continue; // ours, and still under way
      if (await this.restore(id, takenBefore))
        this.opts.log?.(
          'warn',
          { workflowId: id },
          'a delivery taken and never confirmed was put back for retry',
        );
    }
    const ids = await this.opts.redis.smembers(this.dirtyKey);
    for (const id of ids) this.schedule(id);
    // Forget incidents quiet for a while (bounded memory in a long-running intake).
    const cutoff = Date.now() - 10 * this.opts.windowMs - 60_000;
    for (const [id, at] of this.lastSent) if (at < cutoff) this.lastSent.delete(id);
  }

  private async slot(): Promise<() => void> {
    const max = this.opts.concurrency ?? 32;
    while (this.active >= max) await new Promise<void>((r) => this.waiting.push(r));
    this.active++;
    return () => {
      this.active--;
      this.waiting.shift()?.();
    };
  }

  private async deliver(workflowId: string, final = false): Promise<void> {
    if (this.inFlight.has(workflowId)) return;
    this.inFlight.add(workflowId);
    const release = await this.slot();
    let pending: Pending | undefined;
    try {
      pending = await this.take(workflowId);
      if (!pending) return;
      this.lastSent.set(workflowId, Date.now());
      const outcome = await this.send(workflowId, pending);
      // Delivered: a failure to forget the taken copy must not put it back now (it would count twice).
      await this.done(workflowId).catch((e) =>
        this.warn(`delivered to ${workflowId}; its taken copy stays until the lease runs out`, e),
      );
      this.opts.onDelivery?.(outcome, pending.firing + pending.resolved);
      this.opts.log?.(
        'info',
        {
          workflowId,
          outcome,
          firing: pending.firing,
          resolved: pending.resolved,
        },
        outcome === 'ignored'
          ? 'folded alerts dropped: no incident runs and none was started (a resolution never starts one)'
          : `folded alerts ${outcome}`,
      );
    } catch (err) {
      // Temporal (or Redis) failed: put the counts back so nothing is lost; the sweep retries.
      if (pending)
        await this.restore(workflowId, Date.now() + 1).catch((e) => this.warn('could not put back', e));
      this.opts.onDelivery?.('retry', pending ? pending.firing + pending.resolved : 0);
      this.warn(`delivery to ${workflowId} failed; kept for retry`, err);
    } finally {
      release();
      this.inFlight.delete(workflowId);
      if (this.again.delete(workflowId) && !final) this.schedule(workflowId);
    }
  }

  private async take(workflowId: string): Promise<Pending | undefined> {
    const flat = await claimPending(this.opts.redis, this.prefix, workflowId);
    if (!flat || flat.length === 0) return undefined;
    const h: Record<string, string> = {};
    for (let i = 0; i + 1 < flat.length; i += 2) h[flat[i]] = flat[i + 1];
    const p: Pending = {
      firing: Number(h.firing ?? 0),
      resolved: Number(h.resolved ?? 0),
      event: h.event ? (JSON.parse(h.event) as AlertEvent) : undefined,
      alert: h.alert ? (JSON.parse(h.alert) as Pending['alert']) : undefined,
    };
    if (p.firing + p.resolved > 0) return p;
    await this.done(workflowId);
    return undefined;
  }

  /** Temporal has it: forget the taken copy. */
  private async done(workflowId: string): Promise<void> {
    await this.opts.redis
      .multi()
      .del(takenKey(this.prefix, workflowId))
      .zrem(takenSetKey(this.prefix), workflowId)
      .exec();
  }

  /** Puts a taken delivery back among the pending (newer alerts keep their newer event). */
  private async restore(workflowId: string, takenBefore: number): Promise<boolean> {
    const restored = await this.opts.redis.eval(
      RESTORE,
      4,
      takenKey(this.prefix, workflowId),
      this.key(workflowId),
      this.dirtyKey,
      takenSetKey(this.prefix),
      workflowId,
      takenBefore,
    );
    return restored === 1;
  }

  /**
   * Start the incident with one firing (its trigger) if none runs, and signal the rest as one count;
   * the alert of a closed incident's episode is recorded on it, or starts its recurrence past the
   * grace (episodes.ts); resolutions never start anything.
   */
  private async send(workflowId: string, p: Pending): Promise<DeliveryOutcome> {
    const event: AlertEvent = p.event ?? { status: p.firing > 0 ? 'firing' : 'resolved' };
    const r = await deliverAlert({
      client: this.opts.client,
      taskQueue: this.opts.taskQueue,
      event,
      alert: p.alert,
      workflowId,
      firing: p.firing,
      resolved: p.resolved,
      policy: this.opts.episodes,
    });
    return r.outcome;
  }

  private warn(msg: string, err: unknown): void {
    this.opts.log?.('warn', { err: err instanceof Error ? err.message : String(err) }, msg);
  }
}
