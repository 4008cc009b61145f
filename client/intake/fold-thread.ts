/**
 * Alert folding with its deliveries on a thread of their own.
 *
 * An Alertmanager request waits only for its alerts to be recorded in Redis (one round trip).
 * Delivering them (starting runbooks, signalling the counts: gRPC and protobuf work that comes in
 * bursts, a storm's first second starts every incident's runbook) used to share the HTTP event loop
 * and held requests behind it: at 1,000 alerts/s the intake answered in 4 ms at the median and
 * 143 ms at p99. Now the HTTP thread records and names the incidents to the delivery thread
 * (fold-deliverer.ts), which runs the AlertFolder with its own Temporal connection and Redis client.
 *
 * If the thread dies, the host logs it and starts another after a second; what was pending is in
 * Redis, and the new thread's first sweep delivers it. Nothing accepted is lost.
 */
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { Redis } from 'ioredis';
import type { TemporalConfig } from '../../config/temporal';
import { recordAlerts, type DeliveryOutcome } from './fold';
import type { MappedAlert } from './schema';

/** What the delivery thread is started with (structured-cloned: plain data only). */
export interface DelivererData {
  temporal: TemporalConfig;
  taskQueue: string;
  redisUrl: string;
  windowMs: number;
  prefix: string;
  /** A fixed recurrence grace (ms); unset: twice the alert's `for` annotation (episodes.ts). */
  recurrenceGraceMs?: number;
}

export type ToDeliverer = { notify: string[] } | { close: true };

export type FromDeliverer =
  | { ready: true }
  | { failed: string }
  | { log: { level: 'info' | 'warn'; fields: Record<string, unknown>; msg: string } }
  | { delivery: { outcome: DeliveryOutcome; alerts: number } };

export interface ThreadedFolderOptions extends DelivererData {
  /** The HTTP thread's Redis client: recording happens here, before the answer. */
  redis: Redis;
  log: (level: 'info' | 'warn' | 'error', fields: Record<string, unknown>, msg: string) => void;
  onDelivery?: (outcome: DeliveryOutcome, alerts: number) => void;
  /** Restart delay after the thread died (ms). */
  restartMs?: number;
}

/** The compiled thread body, beside this file in dist/. */
const ENTRY = path.join(__dirname, 'fold-deliverer.js');

export class ThreadedFolder {
  private worker?: Worker;
  private closing = false;
  private restartTimer?: NodeJS.Timeout;

  constructor(private readonly opts: ThreadedFolderOptions) {}

  /** Starts the delivery thread; resolves once it is connected to Temporal and sweeping. */
  start(): Promise<void> {
    const { redis: _redis, log: _log, onDelivery: _onDelivery, restartMs: _restartMs, ...data } = this.opts;
    const worker = new Worker(ENTRY, { workerData: data satisfies DelivererData });
    this.worker = worker;
    return new Promise<void>((resolve, reject) => {
      worker.on('message', (m: FromDeliverer) => {
        if ('ready' in m) resolve();
        else if ('log' in m) this.opts.log(m.log.level, m.log.fields, m.log.msg);
        else if ('delivery' in m) this.opts.onDelivery?.(m.delivery.outcome, m.delivery.alerts);
        else if ('failed' in m) {
          this.opts.log('error', { err: { message: m.failed } }, 'fold delivery thread failed');
          reject(new Error(`the fold delivery thread failed: ${m.failed}`));
        }
      });
      worker.on('error', (err) => {
        this.opts.log('error', { err: { message: err.message } }, 'fold delivery thread crashed');
        reject(err);
      });
      worker.once('exit', (code) => {
        if (this.worker === worker) this.worker = undefined;
        if (this.closing) return;
        const restartMs = this.opts.restartMs ?? 1000;
        this.opts.log(
          'error',
          { exitCode: code, restartMs },
          'fold delivery thread ended; starting another (pending alerts wait in Redis)',
        );
        this.restartTimer = setTimeout(
          () => void this.start().catch(() => undefined), // a failed start ends in 'exit' again
          restartMs,
        );
      });
    });
  }

  /** Records the alerts (the caller answers after this), then hands the incidents to the thread. */
  async add(alerts: MappedAlert[]): Promise<void> {
    const ids = await recordAlerts(this.opts.redis, this.opts.prefix, alerts);
    // No thread at this moment (restarting): the next one's first sweep finds them in Redis.
    this.worker?.postMessage({ notify: ids } satisfies ToDeliverer);
  }

  /** Lets the thread deliver everything pending, then waits for it to end. */
  async close(): Promise<void> {
    this.closing = true;
    clearTimeout(this.restartTimer);
    const worker = this.worker;
    if (!worker) return;
    const exited = new Promise<void>((r) => worker.once('exit', () => r()));
    worker.postMessage({ close: true } satisfies ToDeliverer);
    await exited;
  }
}
