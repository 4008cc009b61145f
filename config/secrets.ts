/**
 * Every secret value in a config: the worker hands them to the report renderer to keep out of
 * follow-up reports, and the tests' leak scans look for them in logs and histories.
 */
import type { IntakeConfig } from './intake';
import type { TemporalConfig } from './temporal';
import type { WorkerConfig } from './worker';

const codecSecrets = (t: TemporalConfig) => (t.codecKeys ?? []).map((k) => k.key.toString('base64'));

export function secretsOf(c: WorkerConfig | IntakeConfig): string[] {
  const passwordsOf = (urls: (string | undefined)[]) =>
    urls
      .map((u) => {
        try {
          return u ? decodeURIComponent(new URL(u).password) : '';
        } catch {
          return '';
        }
      })
      .filter((p) => p.length >= 4);
  if ('intake' in c) {
    return [
      c.temporal.apiKey,
      c.intake.bearerToken,
      c.intake.hmacSecret,
      c.intake.basicAuth?.password,
      ...passwordsOf([c.intake.fold.redisUrl]),
      ...codecSecrets(c.temporal),
    ].filter((s): s is string => typeof s === 'string' && s.length > 0);
  }
  const passwords = passwordsOf([c.postgres.url, c.redis.url, c.notify.smtpUrl, c.billing.databaseUrl]);
  return [
    c.stripe.apiKey,
    c.temporal.apiKey,
    ...codecSecrets(c.temporal),
    c.notify.pagerDutyRoutingKey,
    c.notify.slackWebhookUrl,
    ...c.approvers.approvers.map((a) => a.webhookUrl),
    c.approvalCodeKey?.toString('utf8'),
    c.approvalLinks?.key.toString('utf8'),
    ...passwords,
  ].filter((s): s is string => typeof s === 'string' && s.length > 0);
}
