/**
 * Paging and notifications: PagerDuty Events API v2, a Slack-style webhook, and email over SMTP.
 * Every configured channel is tried; one channel being down never stops the others, and what
 * failed is returned so the runbook can record it. Only when every channel fails is it an error.
 */
import { log } from '@temporalio/activity';
import type { Transporter } from 'nodemailer';
import { describeError, FailureType, nonRetryable, retryable } from '../definitions/errors';
import { oncePart, type ResultMemo } from './result-memo';

export interface NotifyDeps {
  slackWebhookUrl?: string;
  pagerDutyEventsUrl?: string;
  pagerDutyRoutingKey?: string;
  /** SMTP transport (nodemailer), built by the worker from SMTP_URL. */
  mailer?: Transporter;
  mailFrom?: string;
  fetch?: typeof fetch;
  timeoutMs?: number;
  /** Where channels sent by an earlier attempt are recorded (activities/result-memo.ts). */
  memo?: ResultMemo;
}

export interface PageInput {
  incidentId: string;
  runbook: string;
  severity: 'P0' | 'P1';
  /** Who is being paged, e.g. "on-call engineer" or "CTO (escalation)". */
  tier: string;
  summary: string;
  details?: Record<string, unknown>;
  /** Same key on every retry, so PagerDuty folds duplicates into one alert. */
  dedupKey: string;
}

export interface EmailInput {
  to: string[];
  subject: string;
  text: string;
  /** Stable id so a retried send is recognisable in the receiving mailbox. */
  messageId: string;
}

export interface Delivery {
  delivered: string[];
  failed: { channel: string; error: string }[];
}

async function postJson(
  doFetch: typeof fetch,
  url: string,
  body: unknown,
  timeoutMs: number,
  headers: Record<string, string> = {},
): Promise<void> {
  const res = await doFetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(timeoutMs),
  });
  if (!res.ok) throw new Error(`HTTP ${res.status} from ${new URL(url).host}`);
  await res.arrayBuffer();
}

/** A channel's name and its send. */
type Channel = [string, () => Promise<void>];

async function fanOut(channels: Channel[], what: string, memo?: ResultMemo): Promise<Delivery> {
  if (channels.length === 0) {
    throw nonRetryable(FailureType.NotificationFailed, `No notification channel is configured for ${what}`);
  }
  // Each channel once across attempts: a worker that died after the chat message and before the
  // mail must not send the chat message again when the activity is retried.
  const results = await Promise.allSettled(channels.map(([channel, send]) => oncePart(memo, channel, send)));
  const delivery: Delivery = { delivered: [], failed: [] };
  results.forEach((r, i) => {
    const channel = channels[i][0];
    if (r.status === 'fulfilled') delivery.delivered.push(channel);
    else delivery.failed.push({ channel, error: describeError(r.reason) });
  });
  if (delivery.delivered.length === 0) {
    throw retryable(
      FailureType.NotificationFailed,
      `Every channel failed for ${what}: ${delivery.failed.map((f) => `${f.channel}: ${f.error}`).join('; ')}`,
    );
  }
  if (delivery.failed.length > 0)
    log.warn('some notification channels failed', { what, failed: delivery.failed });
  return delivery;
}

interface Sender {
  deps: NotifyDeps;
  doFetch: typeof fetch;
  timeoutMs: number;
}

/** The chat webhook's copy of a page or a mail, when a webhook is configured. */
function slackChannel(s: Sender, body: Record<string, unknown>): Channel[] {
  const slackUrl = s.deps.slackWebhookUrl;
  if (!slackUrl) return [];
  return [['slack', () => postJson(s.doFetch, slackUrl, body, s.timeoutMs)]];
}

function pagerDutyChannel(s: Sender, input: PageInput): Channel[] {
  const { pagerDutyRoutingKey: routingKey, pagerDutyEventsUrl: pdUrl } = s.deps;
  if (!routingKey || !pdUrl) return [];
  const event = {
    routing_key: routingKey,
    event_action: 'trigger',
    dedup_key: input.dedupKey,
    payload: {
      summary: `[${input.runbook}] ${input.summary}`.slice(0, 1024),
      source: 'accubooks-runbooks',
      severity: input.severity === 'P0' ? 'critical' : 'error',
      component: input.runbook,
      group: input.incidentId,
      class: input.tier,
      custom_details: { incidentId: input.incidentId, tier: input.tier, ...input.details },
    },
  };
  return [['pagerduty', () => postJson(s.doFetch, pdUrl, event, s.timeoutMs)]];
}

function mailChannel(deps: NotifyDeps, input: EmailInput): Channel[] {
  const mailer = deps.mailer;
  if (!mailer || input.to.length === 0) return [];
  const send = async () => {
    await mailer.sendMail({
      from: deps.mailFrom,
      to: input.to,
      subject: input.subject,
      text: input.text,
      messageId: input.messageId,
    });
  };
  return [['email', send]];
}

export const createNotificationActivities = (deps: NotifyDeps) => {
  const sender: Sender = { deps, doFetch: deps.fetch ?? fetch, timeoutMs: deps.timeoutMs ?? 10_000 };

  return {
    /** Pages a tier through PagerDuty and the chat webhook. */
    async page(input: PageInput): Promise<Delivery> {
      const channels = [
        ...pagerDutyChannel(sender, input),
        ...slackChannel(sender, {
          text: `:rotating_light: *${input.severity} ${input.runbook}* paging ${input.tier}: ${input.summary} (incident \`${input.incidentId}\`)`,
          incidentId: input.incidentId,
          dedupKey: input.dedupKey,
        }),
      ];
      return fanOut(channels, `page ${input.dedupKey}`, deps.memo);
    },

    /** Email to named people (CEO, CTO, Legal…), with a copy to the chat webhook. */
    async sendEmail(input: EmailInput): Promise<Delivery> {
      const channels = [
        ...mailChannel(deps, input),
        ...slackChannel(sender, { text: `*${input.subject}*\n${input.text}`, dedupKey: input.messageId }),
      ];
      return fanOut(channels, `email ${input.messageId}`, deps.memo);
    },
  };
};
