/**
 * Builds every outside client from config, and closes them again. The worker owns their lifetimes:
 * opened before Worker.create, closed after worker.run() resolves.
 */
import Docker from 'dockerode';
import nodemailer, { type Transporter } from 'nodemailer';
import { Pool } from 'pg';
import { Redis } from 'ioredis';
import Stripe from 'stripe';
import type { WorkerConfig } from '../config/worker';
import { createActivities, type ActivityDeps } from '../activities';
import { dockerFromHost } from '../activities/docker';
import { PostgresBillingStore } from '../activities/billing';

export interface WorkerClients {
  deps: ActivityDeps;
  close(): Promise<void>;
}

export function mailerFrom(smtpUrl: string | undefined): Transporter | undefined {
  return smtpUrl ? nodemailer.createTransport(smtpUrl) : undefined;
}

/** The Stripe SDK, pointed at stripe-mock (or any other base) when STRIPE_API_BASE is set. */
export function stripeFrom(apiKey: string, apiBase?: string): Stripe {
  if (!apiBase) return new Stripe(apiKey, { maxNetworkRetries: 0 });
  const u = new URL(apiBase);
  return new Stripe(apiKey, {
    host: u.hostname,
    port: Number(u.port || (u.protocol === 'https:' ? 443 : 80)),
    protocol: u.protocol === 'https:' ? 'https' : 'http',
    maxNetworkRetries: 0, // Temporal owns retries; the idempotency key makes them safe
  });
}

export function buildClients(config: WorkerConfig): WorkerClients {
  const docker = dockerFromHost(config.docker.host, Docker);
  const mailer = mailerFrom(config.notify.smtpUrl);
  // Small pool: the runbooks' own sessions must never add to the exhaustion they are fixing.
  const pg = new Pool({
    connectionString: config.postgres.url,
    max: 4,
    application_name: 'accubooks-runbooks',
  });
  pg.on('error', () => undefined); // a dropped idle client is replaced on next use; the activity reports errors
  const redis = new Redis(config.redis.url, {
    lazyConnect: true,
    maxRetriesPerRequest: 2,
    enableOfflineQueue: false,
  });
  redis.on('error', () => undefined); // reconnects by itself; activities see and report failures
  // The billing switch: through its own role when BILLING_DATABASE_URL is set, else the runbook pool.
  const billingPg = config.billing.databaseUrl
    ? new Pool({
        connectionString: config.billing.databaseUrl,
        max: 2,
        application_name: 'accubooks-runbooks',
      })
    : undefined;
  billingPg?.on('error', () => undefined);
  const deps: ActivityDeps = {
    docker,
    pg,
    redis,
    stripe: stripeFrom(config.stripe.apiKey, config.stripe.apiBase),
    appRoles: config.accubooks.dbRoles,
    postgresUrl: config.postgres.url,
    pgBinDir: config.postgres.binDir,
    prometheusUrl: config.prometheus.url,
    evidenceDir: config.evidenceDir,
    health: { apiUrls: { [config.accubooks.container]: config.accubooks.apiUrl } },
    notify: {
      slackWebhookUrl: config.notify.slackWebhookUrl,
      pagerDutyEventsUrl: config.notify.pagerDutyEventsUrl,
      pagerDutyRoutingKey: config.notify.pagerDutyRoutingKey,
      mailer,
      mailFrom: config.notify.smtpFrom,
    },
    approvers: config.approvers,
    approvalCodeKey: config.approvalCodeKey,
    approvalLinks: config.approvalLinks,
    billing: { key: config.billing.key, store: new PostgresBillingStore(billingPg ?? pg) },
    refundCaps: config.refundCaps,
    incidentOwners: config.incidentOwners,
  };
  return {
    deps,
    async close() {
      mailer?.close();
      redis.disconnect();
      await pg.end();
      await billingPg?.end();
    },
  };
}

export const activitiesFor = (clients: WorkerClients) => createActivities(clients.deps);
