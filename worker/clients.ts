/**
 * Builds every outside client from config, and closes them again. The worker owns their lifetimes:
 * opened before Worker.create, closed after worker.run() resolves.
 */
import Docker from 'dockerode';
import nodemailer, { type Transporter } from 'nodemailer';
import type { WorkerConfig } from '../config';
import { createActivities, type ActivityDeps } from '../activities';
import { dockerFromHost } from '../activities/docker';

export interface WorkerClients {
  deps: ActivityDeps;
  close(): Promise<void>;
}

export function mailerFrom(smtpUrl: string | undefined): Transporter | undefined {
  return smtpUrl ? nodemailer.createTransport(smtpUrl) : undefined;
}

export function buildClients(config: WorkerConfig): WorkerClients {
  const docker = dockerFromHost(config.docker.host, Docker);
  const mailer = mailerFrom(config.notify.smtpUrl);
  const deps: ActivityDeps = {
    docker,
    health: { apiUrls: { [config.accubooks.container]: config.accubooks.apiUrl } },
    notify: {
      slackWebhookUrl: config.notify.slackWebhookUrl,
      pagerDutyEventsUrl: config.notify.pagerDutyEventsUrl,
      pagerDutyRoutingKey: config.notify.pagerDutyRoutingKey,
      mailer,
      mailFrom: config.notify.smtpFrom,
    },
  };
  return {
    deps,
    close() {
      mailer?.close();
      return Promise.resolve();
    },
  };
}

export const activitiesFor = (clients: WorkerClients) => createActivities(clients.deps);
