#!/usr/bin/env node
/**
 * The alert intake process: config → Temporal client → HTTP server. SIGINT/SIGTERM stop accepting,
 * let in-flight requests finish, then close the Temporal connection.
 *
 *   INTAKE_BEARER_TOKEN=... node dist/client/intake/main.js     (or: npm run intake)
 */
import type { Redis } from 'ioredis';
import pino from 'pino';
import { ConfigError } from '../../config/errors';
import { describeIntakeConfig, loadIntakeConfig, type IntakeConfig } from '../../config/intake';
import { connectClient } from '../connection';
import { DEFAULT_EPISODE_POLICY } from './episodes';
import { foldRedis } from './fold';
import { ThreadedFolder } from './fold-thread';
import { alertRunbookMap } from './mapping';
import { createIntakeMetrics } from './metrics';
import { temporalGateway } from './delivery';
import { buildIntake, intakeLoggerOptions } from './server';

export async function runIntake(config: IntakeConfig): Promise<void> {
  const client = await connectClient(config.temporal);
  const metrics = createIntakeMetrics({ defaultMetrics: true });
  const gateway = temporalGateway(client, config.temporal.taskQueue, {
    ...DEFAULT_EPISODE_POLICY,
    graceMs: config.intake.recurrenceGraceMs,
  });
  let redis: Redis | undefined;
  let folder: ThreadedFolder | undefined;
  const app = await buildIntake({
    auth: {
      bearerToken: config.intake.bearerToken,
      hmacSecret: config.intake.hmacSecret,
      basic: config.intake.basicAuth,
    },
    bodyLimitBytes: config.intake.bodyLimitBytes,
    targetLabels: config.intake.targetLabels,
    alertRunbooks: alertRunbookMap(config.intake.alertRunbooks),
    unknownAlerts: config.intake.unknownAlerts,
    runbookPolicies: config.intake.runbookPolicies,
    gateway,
    metrics,
    // Lines are written off the request path (sonic-boom, asynchronous: lines that come while a write
    // is under way go out together with the next); pino flushes what is left when the process exits.
    logger: { ...intakeLoggerOptions, stream: pino.destination({ dest: 1, sync: false }) },
  });
  if (config.intake.fold.redisUrl) {
    redis = foldRedis(config.intake.fold.redisUrl);
    redis.on('error', (err: Error) => app.log.warn({ err: { message: err.message } }, 'fold Redis error'));
    // Deliveries run on a thread of their own (fold-thread.ts): requests wait only for Redis.
    folder = new ThreadedFolder({
      temporal: config.temporal,
      taskQueue: config.temporal.taskQueue,
      redisUrl: config.intake.fold.redisUrl,
      redis,
      windowMs: config.intake.fold.windowMs,
      prefix: config.intake.fold.prefix,
      recurrenceGraceMs: config.intake.recurrenceGraceMs,
      log: (level, fields, msg) => app.log[level](fields, msg),
      onDelivery: (outcome, alerts) => metrics.folded.inc({ outcome }, alerts),
    });
    await folder.start();
    gateway.fold = folder;
  }
  app.log.info({ config: describeIntakeConfig(config) }, 'intake starting');
  const closed = new Promise<void>((resolve) => {
    const stop = () => {
      app.log.info('intake stopping');
      void app.close().then(resolve);
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  await app.listen({ host: config.intake.host, port: config.intake.port });
  await closed;
  // What was accepted and is still pending goes to Temporal before the process ends.
  await folder?.close();
  redis?.disconnect();
  await client.connection.close();
}

export async function main(): Promise<void> {
  let config: IntakeConfig;
  try {
    config = loadIntakeConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  await runIntake(config);
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(`intake failed: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
