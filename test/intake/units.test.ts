/** The intake's pure parts: config, mapping, targets, authentication, and the timeline's redaction. */
import { ConfigError, describeIntakeConfig, loadIntakeConfig, secretsOf } from '../../config';
import { authenticate, signBody } from '../../client/intake/auth';
import { alertRunbookMap, DEFAULT_ALERT_RUNBOOKS, targetOf } from '../../client/intake/mapping';
import { redact } from '../../client/timeline';

describe('intake config', () => {
  test('defaults, overrides and secrets', () => {
    const c = loadIntakeConfig({
      INTAKE_BEARER_TOKEN: 'a-long-enough-token-1234',
      INTAKE_ALERT_RUNBOOKS: 'PoolSaturated=P0-2,ApiDown=P0-1',
      INTAKE_TARGET_LABELS: 'container,service',
    });
    expect(c.intake).toMatchObject({
      host: '127.0.0.1',
      port: 9095,
      bodyLimitBytes: 1024 * 1024,
      targetLabels: ['container', 'service'],
      alertRunbooks: { PoolSaturated: 'P0-2', ApiDown: 'P0-1' },
      unknownAlerts: 'reject',
    });
    expect(secretsOf(c)).toEqual(['a-long-enough-token-1234']);
    expect(JSON.stringify(describeIntakeConfig(c))).not.toContain('a-long-enough-token-1234');
    expect(alertRunbookMap(c.intake.alertRunbooks)).toMatchObject({
      ...DEFAULT_ALERT_RUNBOOKS,
      PoolSaturated: 'P0-2',
    });
  });

  test('never runs open, and names every bad variable at once', () => {
    expect(() => loadIntakeConfig({})).toThrow(/INTAKE_BEARER_TOKEN or INTAKE_HMAC_SECRET is missing/);
    try {
      loadIntakeConfig({
        INTAKE_HMAC_SECRET: 'short',
        INTAKE_PORT: 'eighty',
        INTAKE_ALERT_RUNBOOKS: 'Foo=bar',
        INTAKE_UNKNOWN_ALERTS: 'maybe',
      });
      throw new Error('expected a ConfigError');
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
      const problems = (e as ConfigError).problems.join('\n');
      expect(problems).toMatch(/INTAKE_HMAC_SECRET must be at least 16 characters/);
      expect(problems).toMatch(/INTAKE_PORT/);
      expect(problems).toMatch(/INTAKE_ALERT_RUNBOOKS must be AlertName=RunbookId pairs/);
      expect(problems).toMatch(/INTAKE_UNKNOWN_ALERTS must be reject or ignore/);
    }
    expect(() =>
      loadIntakeConfig({ INTAKE_BEARER_TOKEN: 'x'.repeat(20), INTAKE_ALERT_RUNBOOKS: 'X=P1-4' }),
    ).toThrow(/maps X to P1-4, which is not a runbook ID/);
  });
});

describe('mapping', () => {
  test('target from the first present label, validated as a container name', () => {
    const labels = ['service', 'container', 'instance_name'];
    expect(targetOf({ container: 'api-1', instance_name: 'x' }, labels)).toEqual({
      ok: true,
      target: 'api-1',
      label: 'container',
    });
    expect(targetOf({ alertname: 'X' }, labels)).toMatchObject({
      ok: false,
      problem: /missing target label/,
    });
    expect(targetOf({ service: 'a b' }, labels)).toMatchObject({ ok: false });
    expect(targetOf({ service: 'x'.repeat(129) }, labels)).toMatchObject({ ok: false });
  });
});

describe('authentication', () => {
  const both = { bearerToken: 'token-token-token-1', hmacSecret: 'secret-secret-secret-1' };
  const body = Buffer.from('{"a":1}');
  test('bearer and HMAC are accepted; anything else is refused with the reason', () => {
    expect(authenticate(both, { authorization: 'Bearer token-token-token-1' }, body)).toEqual({
      ok: true,
      method: 'bearer',
    });
    expect(authenticate(both, { 'x-signature-256': signBody(both.hmacSecret, body) }, body)).toEqual({
      ok: true,
      method: 'hmac',
    });
    expect(
      authenticate(
        both,
        { 'x-signature-256': signBody(both.hmacSecret, body).toUpperCase().replace('SHA256', 'sha256') },
        body,
      ),
    ).toMatchObject({ ok: true });
    expect(authenticate(both, {}, body)).toMatchObject({ ok: false, problem: /missing credentials/ });
    expect(authenticate(both, { authorization: 'Bearer token-token-token-2' }, body)).toMatchObject({
      ok: false,
      problem: 'wrong bearer token',
    });
    expect(authenticate({ hmacSecret: both.hmacSecret }, { authorization: 'Bearer x' }, body)).toMatchObject({
      ok: false,
      problem: /does not accept that kind of credential; send `X-Signature-256/,
    });
    expect(
      authenticate({ bearerToken: both.bearerToken }, { 'x-signature-256': signBody('x', body) }, body),
    ).toMatchObject({
      ok: false,
    });
  });
});

test('the timeline never prints codes, tokens or keys', () => {
  expect(redact({ approver: 'ceo', code: '123456', nested: { apiKey: 'k', token: 't', ok: 1 } })).toEqual({
    approver: 'ceo',
    code: '***',
    nested: { apiKey: '***', token: '***', ok: 1 },
  });
});
