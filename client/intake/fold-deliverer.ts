/**
 * The body of the intake's delivery thread (see fold-thread.ts): an AlertFolder with its own
 * Temporal connection and Redis client, told by the HTTP thread which incidents have alerts pending.
 * Logs and delivery counts go back to the HTTP thread (one logger, one /metrics).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { connectClient } from '../connection';
import { DEFAULT_EPISODE_POLICY } from './episodes';
import { AlertFolder, foldRedis } from './fold';
import type { FromDeliverer, ToDeliverer, DelivererData } from './fold-thread';

async function run(port: NonNullable<typeof parentPort>, data: DelivererData): Promise<void> {
  const post = (m: FromDeliverer) => port.postMessage(m);
  const client = await connectClient(data.temporal);
  const redis = foldRedis(data.redisUrl);
  redis.on('error', (err: Error) =>
    post({
      log: {
        level: 'warn',
        fields: { err: { message: err.message } },
        msg: 'fold delivery thread: Redis error',
      },
    }),
  );
  const folder = new AlertFolder({
    client,
    taskQueue: data.taskQueue,
    redis,
    windowMs: data.windowMs,
    prefix: data.prefix,
    episodes: { ...DEFAULT_EPISODE_POLICY, graceMs: data.recurrenceGraceMs },
    log: (level, fields, msg) => post({ log: { level, fields, msg } }),
    onDelivery: (outcome, alerts) => post({ delivery: { outcome, alerts } }),
  });
  port.on('message', (m: ToDeliverer) => {
    if ('notify' in m) folder.notify(m.notify);
    else if ('close' in m)
      // What was accepted and is still pending goes to Temporal before the thread ends.
      void folder
        .close()
        .finally(async () => {
          redis.disconnect();
          await client.connection.close();
        })
        .finally(() => process.exit(0)); // in a worker thread: ends this thread only; the host awaits 'exit'
  });
  // The first sweep picks up what an earlier intake left pending: once Redis answers.
  if (redis.status === 'ready') folder.start();
  else redis.once('ready', () => folder.start());
  post({ ready: true });
}

if (parentPort) {
  const port = parentPort;
  run(port, workerData as DelivererData).catch((err: unknown) => {
    // The host logs it and starts a new thread; the alerts wait in Redis meanwhile.
    port.postMessage({ failed: err instanceof Error ? err.message : String(err) } satisfies FromDeliverer);
    process.exit(1);
  });
}
