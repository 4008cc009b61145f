#!/usr/bin/env node
/**
 * The approval page process: config → Temporal client → HTTP server. SIGINT/SIGTERM stop accepting,
 * let in-flight requests finish, then close the Temporal connection.
 *
 *   APPROVAL_PAGE_URL=https://approve.example APPROVAL_LINK_KEY=... node dist/client/approval-page/main.js
 *   (or: npm run approval-page)
 */
import pino from 'pino';
import { ConfigError } from '../../config/errors';
import {
  describeApprovalPageConfig,
  loadApprovalPageConfig,
  type ApprovalPageConfig,
} from '../../config/approval-page';
import { connectClient } from '../connection';
import { temporalApprovalGateway } from './gateway';
import { createPageMetrics } from './metrics';
import { approvalPageLoggerOptions, buildApprovalPage } from './server';

export async function runApprovalPage(config: ApprovalPageConfig): Promise<void> {
  const client = await connectClient(config.temporal);
  const app = await buildApprovalPage({
    gateway: temporalApprovalGateway(client),
    publicUrl: config.page.publicUrl,
    linkKey: config.page.linkKey,
    verdictTimeoutMs: config.page.verdictTimeoutMs,
    metrics: createPageMetrics({ defaultMetrics: true }),
    logger: { ...approvalPageLoggerOptions, stream: pino.destination({ dest: 1, sync: false }) },
  });
  app.log.info({ config: describeApprovalPageConfig(config) }, 'approval page starting');
  const closed = new Promise<void>((resolve) => {
    const stop = () => {
      app.log.info('approval page stopping');
      void app.close().then(resolve);
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  await app.listen({ host: config.page.host, port: config.page.port });
  await closed;
  await client.connection.close();
}

export async function main(): Promise<void> {
  let config: ApprovalPageConfig;
  try {
    config = loadApprovalPageConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  await runApprovalPage(config);
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(`approval page failed: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
