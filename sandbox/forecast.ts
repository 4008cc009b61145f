/**
 * The forecast job queue: a Redis list. The API role runs a producer (a steady low rate, plus a
 * flood rate while the queue-flood fault is on) that honours the pause flag, and one consumer;
 * the forecast-worker role runs consumers only. Worker utilization is the busy-time fraction of
 * this process's consumers over a sliding window.
 */
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { errorMessage, type Logger } from './log';

export interface ForecastOptions {
  queueKey: string;
  pauseKey: string;
  produceRps: number;
  jobMs: number;
  consumers: number;
  utilizationWindowMs: number;
  instance: string;
}

const PAUSE_POLL_MS = 500;
const PRODUCER_TICK_MS = 250;

/** Busy intervals of consumers, for a utilization over a sliding window. */
export class BusyTracker {
  private readonly done: Array<[number, number]> = [];
  private readonly running = new Map<number, number>();
  private nextId = 0;

  constructor(
    private readonly windowMs: number,
    private readonly capacity: number,
  ) {}

  start(now = Date.now()): number {
    const id = this.nextId++;
    this.running.set(id, now);
    return id;
  }

  end(id: number, now = Date.now()): void {
    const started = this.running.get(id);
    if (started === undefined) return;
    this.running.delete(id);
    this.done.push([started, now]);
    this.prune(now);
  }

  utilization(now = Date.now()): number {
    if (this.capacity <= 0) return 0;
    this.prune(now);
    const from = now - this.windowMs;
    let busy = 0;
    for (const [s, e] of this.done) busy += Math.max(0, Math.min(e, now) - Math.max(s, from));
    for (const s of this.running.values()) busy += Math.max(0, now - Math.max(s, from));
    return Math.min(1, busy / (this.windowMs * this.capacity));
  }

  private prune(now: number): void {
    const from = now - this.windowMs;
    while (this.done.length > 0 && this.done[0][1] < from) this.done.shift();
  }
}

export class Forecast {
  readonly busy: BusyTracker;
  paused = false;
  produced = 0;
  processed = 0;
  /** Extra jobs per second from the queue-flood fault. */
  floodRate = 0;
  private stopped = false;
  private producerTimer: NodeJS.Timeout | undefined;
  private pauseTimer: NodeJS.Timeout | undefined;
  private readonly consumerConns: Redis[] = [];
  private readonly consumerLoops: Promise<void>[] = [];
  private credit = 0;
  private lastTick = Date.now();
  private lastErrorLog = 0;
  private seq = 0;

  constructor(
    private readonly redis: Redis,
    private readonly opts: ForecastOptions,
    private readonly log: Logger,
  ) {
    this.busy = new BusyTracker(opts.utilizationWindowMs, opts.consumers);
  }

  /** Starts the pause-flag watcher and the producer (API role). */
  startProducer(): void {
    this.pollPause();
    this.pauseTimer = setInterval(() => this.pollPause(), PAUSE_POLL_MS);
    this.lastTick = Date.now();
    this.producerTimer = setInterval(() => this.produceTick(), PRODUCER_TICK_MS);
  }

  startConsumers(): void {
    for (let i = 0; i < this.opts.consumers; i++) {
      const conn = this.redis.duplicate();
      conn.on('error', (err: unknown) => this.throttledError('forecast consumer redis error', err));
      this.consumerConns.push(conn);
      this.consumerLoops.push(this.consume(conn, i));
    }
  }

  async depth(): Promise<number> {
    return this.redis.llen(this.opts.queueKey);
  }

  /** Pushes `count` jobs at once (queue-flood burst); returns the new depth. */
  async push(count: number, source: string): Promise<number> {
    let depth = await this.depth();
    const chunk = 1000;
    for (let done = 0; done < count; done += chunk) {
      const n = Math.min(chunk, count - done);
      const jobs = Array.from({ length: n }, () => this.job(source));
      depth = await this.redis.rpush(this.opts.queueKey, ...jobs);
    }
    this.produced += count;
    return depth;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.producerTimer) clearInterval(this.producerTimer);
    if (this.pauseTimer) clearInterval(this.pauseTimer);
    for (const c of this.consumerConns) c.disconnect();
    await Promise.race([Promise.allSettled(this.consumerLoops), sleep(1000)]);
  }

  private job(source: string): string {
    return JSON.stringify({
      id: randomUUID(),
      seq: this.seq++,
      tenant: `tenant-${1 + (this.seq % 5)}`,
      kind: 'cash-flow-forecast',
      source,
      producer: this.opts.instance,
      createdAt: new Date().toISOString(),
    });
  }

  private pollPause(): void {
    this.redis.get(this.opts.pauseKey).then(
      (v) => {
        const paused = v === '1';
        if (paused !== this.paused) {
          this.log.info(paused ? 'forecast job producer paused by flag' : 'forecast job producer resumed', {
            pauseKey: this.opts.pauseKey,
          });
        }
        this.paused = paused;
      },
      (err: unknown) => this.throttledError('cannot read forecast pause flag', err),
    );
  }

  private produceTick(): void {
    const now = Date.now();
    const dt = (now - this.lastTick) / 1000;
    this.lastTick = now;
    if (this.paused || this.stopped) {
      this.credit = 0;
      return;
    }
    this.credit += (this.opts.produceRps + this.floodRate) * dt;
    const n = Math.floor(this.credit);
    if (n <= 0) return;
    this.credit -= n;
    this.push(n, this.floodRate > 0 ? 'producer+flood' : 'producer').catch((err: unknown) =>
      this.throttledError('cannot enqueue forecast jobs', err),
    );
  }

  private async consume(conn: Redis, index: number): Promise<void> {
    while (!this.stopped) {
      let item: [string, string] | null;
      try {
        item = await conn.blpop(this.opts.queueKey, 1);
      } catch (err) {
        if (this.stopped) return;
        this.throttledError('forecast consumer cannot read the queue', err, { consumer: index });
        await sleep(1000);
        continue;
      }
      if (!item) continue;
      const id = this.busy.start();
      try {
        await sleep(this.opts.jobMs);
        this.processed++;
      } finally {
        this.busy.end(id);
      }
    }
  }

  private throttledError(msg: string, err: unknown, fields?: Record<string, unknown>): void {
    if (this.stopped) return;
    const now = Date.now();
    if (now - this.lastErrorLog < 5000) return;
    this.lastErrorLog = now;
    this.log.error(msg, { error: errorMessage(err), ...fields });
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
