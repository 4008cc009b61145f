/**
 * Every bad input gets a 4xx that names the problem, and nothing is started: the gateway sees no
 * call and the dev server holds no workflow on the intake's task queue.
 */
import { signBody } from '../../client/intake/auth';
import { uniqueId } from '../../rig/env';
import { amAlert, amPayload, bearer, HMAC_SECRET, startIntakeRig, TOKEN, type IntakeRig } from './rig';

let rig: IntakeRig;
beforeAll(async () => {
  rig = await startIntakeRig('intake-reject');
});
afterAll(async () => {
  await rig?.close();
});

interface Rejected {
  error: string;
  message: string;
  problems?: string[];
  knownAlertNames?: string[];
  started: number;
}

const target = () => uniqueId('abk-reject');
const am = (body: unknown, headers: Record<string, string> = bearer) =>
  rig.request('/alerts/alertmanager', {
    headers,
    body: typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body),
  });

async function expectRejected(
  res: Promise<{ status: number; json<T>(): T }>,
  status: number,
  error: string,
  message: RegExp,
) {
  const r = await res;
  const body = r.json<Rejected>();
  expect({ status: r.status, error: body.error }).toEqual({ status, error });
  expect(body.message).toMatch(message);
  expect(body.started).toBe(0);
  return body;
}

test('malformed JSON → 400 naming the parse error', async () => {
  await expectRejected(am('{"version": "4", "alerts": ['), 400, 'malformed', /^malformed JSON: /);
});

test('an empty body → 400', async () => {
  await expectRejected(am(''), 400, 'malformed', /empty body/);
});

test('wrong shape → 422 with the path of each problem', async () => {
  const wrongVersion = { ...amPayload([amAlert('SystemUnreachable', target())]), version: '3' };
  const b1 = await expectRejected(am(wrongVersion), 422, 'invalid', /version: must be "4"/);
  expect(b1.problems).toEqual(['version: must be "4" (Alertmanager webhook version 4)']);

  const noName = amPayload([amAlert('SystemUnreachable', target())]);
  delete (noName.alerts[0].labels as Partial<(typeof noName.alerts)[0]['labels']>).alertname;
  await expectRejected(am(noName), 422, 'invalid', /alerts\[0\]\.labels: must include alertname/);

  const badStatus = amPayload([amAlert('SystemUnreachable', target(), 'firing', { status: 'burning' })]);
  await expectRejected(am(badStatus), 422, 'invalid', /alerts\[0\]\.status: must be "firing" or "resolved"/);

  await expectRejected(
    am({ ...amPayload([]), alerts: [] }),
    422,
    'invalid',
    /alerts: must hold at least one alert/,
  );
  await expectRejected(am([1, 2]), 422, 'invalid', /\(body\): /);
  const badTime = amPayload([amAlert('SystemUnreachable', target(), 'firing', { startsAt: 'yesterday' })]);
  await expectRejected(am(badTime), 422, 'invalid', /alerts\[0\]\.startsAt: must be an RFC 3339 time/);
});

test('an unknown alert name → 422 listing the known ones', async () => {
  const body = await expectRejected(
    am(amPayload([amAlert('DiskAlmostFull', target())])),
    422,
    'unknown_alert',
    /unknown alert name "DiskAlmostFull"; known alert names: SystemUnreachable \(P0-1 System down\), .*DataIntegrityViolation \(P0-4/,
  );
  expect(body.knownAlertNames).toEqual(
    expect.arrayContaining(['SystemUnreachable', 'DatabasePoolExhaustion', 'HighErrorRate', 'BillingError']),
  );
});

test('alert names that are Object.prototype members are unknown too (found by the property test)', async () => {
  for (const name of ['constructor', 'toString', '__proto__', 'hasOwnProperty']) {
    await expectRejected(
      am(amPayload([amAlert(name, target())])),
      422,
      'unknown_alert',
      /unknown alert name/,
    );
    const simple = await rig.request('/alerts', {
      headers: bearer,
      body: JSON.stringify({ alertName: name, target: target() }),
    });
    expect(simple.status).toBe(422);
  }
});

test('a missing or invalid target label → 422 naming the labels to set', async () => {
  const noTarget = amPayload([amAlert('SystemUnreachable', 'x')]);
  delete (noTarget.alerts[0].labels as { service?: string }).service;
  await expectRejected(
    am(noTarget),
    422,
    'invalid',
    /missing target label: set one of service, container, target, instance_name/,
  );
  await expectRejected(
    am(amPayload([amAlert('SystemUnreachable', '../../etc/passwd')])),
    422,
    'invalid',
    /label service="..\/..\/etc\/passwd" is not a valid target/,
  );
});

test('one bad alert in a batch rejects the batch: the good ones are not started either', async () => {
  const good = target();
  const body = await expectRejected(
    am(amPayload([amAlert('SystemUnreachable', good), amAlert('NoSuchAlert', good)])),
    422,
    'unknown_alert',
    /alert 1: unknown alert name "NoSuchAlert".*Nothing was started/,
  );
  expect(body.problems).toHaveLength(1);
});

test('a body over the limit → 413 naming the limit', async () => {
  const huge = amPayload(
    Array.from({ length: 400 }, (_, i) =>
      amAlert('SystemUnreachable', `abk-big-${i}`, 'firing', { annotations: { summary: 'x'.repeat(200) } }),
    ),
  );
  await expectRejected(am(huge), 413, 'too_large', /body too large: the limit is 65536 bytes/);
});

test('missing or wrong credentials → 401 naming what to send; checked before the body is read', async () => {
  const payload = JSON.stringify(amPayload([amAlert('SystemUnreachable', target())]));
  const json = { 'content-type': 'application/json' };
  const missing = await am(payload, json);
  expect(missing.status).toBe(401);
  expect(missing.json<Rejected>().message).toMatch(
    /missing credentials: send `Authorization: Bearer <token>` or `X-Signature-256/,
  );

  await expectRejected(
    am(payload, { ...json, authorization: 'Bearer not-the-token' }),
    401,
    'unauthorized',
    /wrong bearer token/,
  );
  await expectRejected(
    am(payload, { ...json, authorization: `Basic ${TOKEN}` }),
    401,
    'unauthorized',
    /not of the form "Bearer <token>"/,
  );
  await expectRejected(
    am(payload, { ...json, 'x-signature-256': signBody('some-other-secret-123456', payload) }),
    401,
    'unauthorized',
    /wrong x-signature-256 signature/,
  );
  // A signature over a different body (tampered in transit).
  await expectRejected(
    am(payload.replace('SystemUnreachable', 'SystemUnreachablf'), {
      ...json,
      'x-signature-256': signBody(HMAC_SECRET, payload),
    }),
    401,
    'unauthorized',
    /wrong x-signature-256 signature/,
  );
  await expectRejected(
    am(payload, { ...json, 'x-signature-256': 'md5=abc' }),
    401,
    'unauthorized',
    /sha256=<64 hex digits>/,
  );
  // Unauthenticated garbage learns nothing about the body.
  await expectRejected(am('{not json', json), 401, 'unauthorized', /missing credentials/);
});

test('a non-JSON content type → 415; an unknown endpoint → 404 naming the right ones', async () => {
  const r = await rig.request('/alerts/alertmanager', {
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'text/plain' },
    body: 'hello',
  });
  expect(r.status).toBe(415);
  expect(r.json<Rejected>().message).toMatch(
    /unsupported Content-Type "text\/plain": send application\/json/,
  );
  const nf = await rig.request('/alert', { headers: bearer, body: '{}' });
  expect(nf.status).toBe(404);
  expect(nf.json<Rejected>().message).toMatch(/POST \/alerts\/alertmanager .* or POST \/alerts/);
});

test('the simple form: unknown fields, no alert name or runbook, a runbook that contradicts the name → 422', async () => {
  const simple = (b: unknown) => rig.request('/alerts', { headers: bearer, body: JSON.stringify(b) });
  await expectRejected(
    simple({ runbook: 'P0-1', target: target(), colour: 'red' }),
    422,
    'invalid',
    /Unrecognized key/,
  );
  await expectRejected(simple({ target: target() }), 422, 'invalid', /alertName: give alertName or runbook/);
  await expectRejected(
    simple({ runbook: 'P9-9', target: target() }),
    422,
    'invalid',
    /runbook: must be one of P0-1/,
  );
  await expectRejected(
    simple({ alertName: 'SystemUnreachable', runbook: 'P1-1', target: target() }),
    422,
    'invalid',
    /maps to P0-1, not to the runbook P1-1/,
  );
  await expectRejected(
    simple({ runbook: 'P0-1', target: 'has space' }),
    422,
    'invalid',
    /not a valid target/,
  );
});

test('after all of that, nothing was started', async () => {
  expect(rig.gateway.calls).toEqual({ fire: 0, resolve: 0 });
  expect(await rig.countStarted()).toBe(0);
});
