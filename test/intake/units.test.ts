/** The intake's pure parts: config, mapping, targets, authentication, and the timeline's redaction. */
import { ConfigError } from '../../config/errors';
import { describeIntakeConfig, loadIntakeConfig } from '../../config/intake';
import { secretsOf } from '../../config/secrets';
import { authenticate, signBody } from '../../client/intake/auth';
import { alertRunbookMap, DEFAULT_ALERT_RUNBOOKS, targetOf } from '../../client/intake/mapping';
import { redact } from '../../client/timeline';
import { linkProblem, safeLink } from '../../definitions/links';

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

describe('basic auth (Alertmanager basic_auth)', () => {
  const basic = { username: 'alertmanager', password: 'basic-password-0123456789' };
  const body = Buffer.from('{}');
  const header = (u: string, p: string) => ({
    authorization: `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}`,
  });
  test('the right pair is accepted, beside a bearer token too; a wrong one is refused without saying which part', () => {
    expect(authenticate({ basic }, header(basic.username, basic.password), body)).toEqual({
      ok: true,
      method: 'basic',
    });
    const both = { basic, bearerToken: 'token-token-token-1' };
    expect(authenticate(both, header(basic.username, basic.password), body)).toMatchObject({ ok: true });
    expect(authenticate(both, { authorization: 'Bearer token-token-token-1' }, body)).toMatchObject({
      ok: true,
      method: 'bearer',
    });
    for (const h of [header(basic.username, 'wrong-password'), header('someone', basic.password)])
      expect(authenticate(both, h, body)).toEqual({
        ok: false,
        problem: 'wrong username or password (basic auth)',
      });
    expect(authenticate({ basic }, { authorization: 'Basic !!!' }, body)).toMatchObject({
      ok: false,
      problem: /not of the form "Basic/,
    });
    expect(authenticate({ basic }, {}, body)).toMatchObject({ ok: false, problem: /Authorization: Basic/ });
  });
  test('config: both username and password, or neither; the password never described', () => {
    const c = loadIntakeConfig({
      INTAKE_BASIC_AUTH_USERNAME: 'alertmanager',
      INTAKE_BASIC_AUTH_PASSWORD: 'basic-password-0123456789',
    });
    expect(c.intake.basicAuth).toEqual({ username: 'alertmanager', password: 'basic-password-0123456789' });
    expect(JSON.stringify(describeIntakeConfig(c))).not.toContain('basic-password-0123456789');
    expect(secretsOf(c)).toContain('basic-password-0123456789');
    expect(() => loadIntakeConfig({ INTAKE_BASIC_AUTH_USERNAME: 'alertmanager' })).toThrow(
      /INTAKE_BASIC_AUTH_PASSWORD is missing \(basic auth needs both\)/,
    );
  });
});

test('INTAKE_RUNBOOK_POLICIES: policy overrides by runbook ID, as JSON; mistakes named', () => {
  const c = loadIntakeConfig({
    INTAKE_BEARER_TOKEN: 'a-long-enough-token-1234',
    INTAKE_RUNBOOK_POLICIES: '{"P0-2":{"resolveWindowMs":10000}}',
  });
  expect(c.intake.runbookPolicies).toEqual({ 'P0-2': { resolveWindowMs: 10000 } });
  const problems = (text: string) => {
    try {
      loadIntakeConfig({ INTAKE_BEARER_TOKEN: 'a-long-enough-token-1234', INTAKE_RUNBOOK_POLICIES: text });
    } catch (err) {
      return (err as ConfigError).message;
    }
    return '';
  };
  expect(problems('{')).toMatch(/INTAKE_RUNBOOK_POLICIES is not JSON/);
  expect(problems('[1]')).toMatch(/must be a JSON object/);
  expect(problems('{"P9-9":{}}')).toMatch(/P9-9 is not a runbook ID/);
  expect(problems('{"P1-1":5}')).toMatch(/P1-1 must map to an object of policy fields/);
});

test('alert links: only plain http(s) URLs without credentials are kept', () => {
  expect(safeLink('http://prometheus:9090/graph?g0.expr=up%3D%3D0')).toBe(
    'http://prometheus:9090/graph?g0.expr=up%3D%3D0',
  );
  expect(safeLink('https://alertmanager.example.com')).toBe('https://alertmanager.example.com');
  expect(linkProblem('javascript:alert(1)')).toBe('not an http(s) URL');
  expect(linkProblem('file:///etc/passwd')).toBe('not an http(s) URL');
  expect(linkProblem('http://user:secret@prometheus/graph')).toMatch(/credentials/);
  expect(linkProblem('http://prometheus/a>b')).toMatch(/percent-encode/);
  expect(linkProblem('http://prometheus/a b')).toMatch(/percent-encode/);
  expect(linkProblem(`http://p/${'a'.repeat(3000)}`)).toMatch(/longer than/);
  expect(linkProblem(42)).toBe('not a string');
});

test('the timeline never prints codes, tokens or keys', () => {
  expect(redact({ approver: 'ceo', code: '123456', nested: { apiKey: 'k', token: 't', ok: 1 } })).toEqual({
    approver: 'ceo',
    code: '***',
    nested: { apiKey: '***', token: '***', ok: 1 },
  });
});
