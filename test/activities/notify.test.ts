/** Pages and emails through real HTTP receivers and a real SMTP server (smtp-server, in-process). */
import { runActivity } from '../../rig/activity';
import { SMTPServer } from 'smtp-server';
import nodemailer from 'nodemailer';
import type { AddressInfo } from 'node:net';
import { createNotificationActivities } from '../../activities/notify';
import { startReceiver, type Receiver } from '../../rig/receivers';

let pd: Receiver;
let slack: Receiver;
let smtp: SMTPServer;
let smtpPort: number;
const mails: { to: string[]; data: string }[] = [];

beforeAll(async () => {
  [pd, slack] = await Promise.all([startReceiver(), startReceiver()]);
  smtp = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    onData(stream, session, cb) {
      let data = '';
      stream.on('data', (c: Buffer) => (data += c.toString()));
      stream.on('end', () => {
        mails.push({ to: session.envelope.rcptTo.map((r) => r.address), data });
        cb();
      });
    },
  });
  await new Promise<void>((r) => smtp.listen(0, '127.0.0.1', r));
  smtpPort = (smtp.server.address() as AddressInfo).port;
});
afterAll(async () => {
  await Promise.all([pd?.close(), slack?.close(), new Promise((r) => smtp.close(() => r(undefined)))]);
});

const pageInput = {
  incidentId: 'P0-1-test',
  runbook: 'P0-1',
  severity: 'P0' as const,
  tier: 'CTO',
  summary: 'System down',
  dedupKey: 'P0-1-test/escalation-1',
};

test('a page reaches PagerDuty (Events API v2) and the chat webhook', async () => {
  const n = createNotificationActivities({
    pagerDutyEventsUrl: `${pd.url}/v2/enqueue`,
    pagerDutyRoutingKey: 'rk',
    slackWebhookUrl: `${slack.url}/hook`,
  });
  const d = await runActivity(n.page, pageInput);
  expect(d.delivered.sort()).toEqual(['pagerduty', 'slack']);
  expect(pd.requests.at(-1)!.body).toMatchObject({
    routing_key: 'rk',
    event_action: 'trigger',
    dedup_key: 'P0-1-test/escalation-1',
    payload: { severity: 'critical', source: 'accubooks-runbooks' },
  });
  expect(String(slack.requests.at(-1)!.body.text)).toContain('P0-1');
});

test('one channel down does not stop the page; the failure is recorded', async () => {
  slack.failing = true;
  const n = createNotificationActivities({
    pagerDutyEventsUrl: `${pd.url}/v2/enqueue`,
    pagerDutyRoutingKey: 'rk',
    slackWebhookUrl: `${slack.url}/hook`,
  });
  const d = await runActivity(n.page, pageInput);
  slack.failing = false;
  expect(d.delivered).toEqual(['pagerduty']);
  expect(d.failed).toEqual([{ channel: 'slack', error: expect.stringContaining('503') }]);
});

test('every channel down is a retryable failure naming each channel', async () => {
  pd.failing = true;
  slack.failing = true;
  const n = createNotificationActivities({
    pagerDutyEventsUrl: `${pd.url}/v2/enqueue`,
    pagerDutyRoutingKey: 'rk',
    slackWebhookUrl: `${slack.url}/hook`,
  });
  await expect(runActivity(n.page, pageInput)).rejects.toThrow(/Every channel failed.*pagerduty.*slack/);
  pd.failing = false;
  slack.failing = false;
});

test('no channel configured is a clear non-retryable error', async () => {
  const n = createNotificationActivities({});
  await expect(runActivity(n.page, pageInput)).rejects.toThrow('No notification channel is configured');
});

test('email goes over SMTP to each recipient', async () => {
  const n = createNotificationActivities({
    mailer: nodemailer.createTransport({ host: '127.0.0.1', port: smtpPort, secure: false, ignoreTLS: true }),
    mailFrom: 'runbooks@accubooks.local',
  });
  const d = await runActivity(n.sendEmail, {
    to: ['ceo@accubooks.test', 'cto@accubooks.test'],
    subject: 'P0-3 billing frozen',
    text: 'Billing is frozen.',
    messageId: '<P0-3-test/notify@accubooks>',
  });
  expect(d.delivered).toEqual(['email']);
  expect(mails.at(-1)!.to.sort()).toEqual(['ceo@accubooks.test', 'cto@accubooks.test']);
  expect(mails.at(-1)!.data).toContain('Subject: P0-3 billing frozen');
});
