/**
 * Property: thousands of random and mutated payloads never get a 5xx and never start a workflow.
 * Every mutation below breaks a valid payload in one way (shape, names, targets, times, encoding,
 * credentials); random JSON and random bytes cover the rest.
 */
import fc from 'fast-check';
import { signBody } from '../../client/intake/auth';
import { TARGET_NAME } from '../../client/intake/mapping';
import { amAlert, amPayload, bearer, HMAC_SECRET, startIntakeRig, TOKEN, type IntakeRig } from './rig';

let rig: IntakeRig;
beforeAll(async () => {
  rig = await startIntakeRig('intake-fuzz');
});
afterAll(async () => {
  await rig?.close();
});

const statuses: number[] = [];
async function send(url: string, body: string | Buffer, headers: Record<string, string> = bearer) {
  const r = await rig.request(url, { headers, body });
  statuses.push(r.status);
  return r.status;
}
const isRejection = (s: number) => s >= 400 && s < 500;

const known = new Set([
  'SystemUnreachable',
  'DatabasePoolExhaustion',
  'HighErrorRate',
  'HighLatency',
  'QueueOverflow',
  'BillingError',
  'DataIntegrityViolation',
]);
const notAString = fc.oneof(
  fc.integer(),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.integer()),
  fc.object(),
);
const valid = () =>
  amPayload([amAlert('SystemUnreachable', 'abk-fuzz-target'), amAlert('HighErrorRate', 'abk-fuzz-other')]);
type Payload = ReturnType<typeof valid> & Record<string, unknown>;

/** One way of breaking a valid payload; each returns the body to send (and headers, when auth is the mutation). */
const mutation: fc.Arbitrary<(p: Payload) => { body: string; headers?: Record<string, string> }> = fc.oneof(
  fc
    .constantFrom('version', 'status', 'alerts', 'groupKey', 'receiver')
    .map((k) => (p: Payload) => (delete p[k], { body: JSON.stringify(p) })),
  fc.tuple(fc.constantFrom('status', 'labels', 'startsAt'), fc.nat(1)).map(
    ([k, i]) =>
      (p: Payload) => (delete (p.alerts[i] as Record<string, unknown>)[k], { body: JSON.stringify(p) }),
  ),
  fc.tuple(fc.constantFrom('version', 'status', 'groupKey', 'receiver'), notAString).map(
    ([k, v]) =>
      (p: Payload) => (((p as Record<string, unknown>)[k] = v), { body: JSON.stringify(p) }),
  ),
  fc
    .tuple(fc.constantFrom('status', 'startsAt', 'labels', 'annotations'), fc.nat(1), notAString)
    .filter(
      ([k, , v]) =>
        !(
          (k === 'labels' || k === 'annotations') &&
          v !== null &&
          typeof v === 'object' &&
          !Array.isArray(v)
        ),
    )
    .map(
      ([k, i, v]) =>
        (p: Payload) => (((p.alerts[i] as Record<string, unknown>)[k] = v), { body: JSON.stringify(p) }),
    ),
  fc
    .tuple(
      fc.oneof(
        fc.string({ maxLength: 200 }).filter((s) => !known.has(s)),
        fc.constantFrom('constructor', 'toString', '__proto__', 'valueOf', 'hasOwnProperty'),
      ),
      fc.nat(1),
    )
    .map(
      ([name, i]) =>
        (p: Payload) => ((p.alerts[i].labels.alertname = name), { body: JSON.stringify(p) }),
    ),
  fc
    .nat(1)
    .map(
      (i) => (p: Payload) => (
        delete (p.alerts[i].labels as { service?: string }).service,
        { body: JSON.stringify(p) }
      ),
    ),
  fc
    .tuple(
      fc.string({ minLength: 1, maxLength: 300 }).filter((s) => !TARGET_NAME.test(s)),
      fc.nat(1),
    )
    .map(
      ([t, i]) =>
        (p: Payload) => ((p.alerts[i].labels.service = t), { body: JSON.stringify(p) }),
    ),
  fc
    .tuple(
      fc.string({ maxLength: 40 }).filter((s) => !/^\d{4}-\d\d-\d\dT/.test(s)),
      fc.nat(1),
    )
    .map(
      ([t, i]) =>
        (p: Payload) => ((p.alerts[i].startsAt = t), { body: JSON.stringify(p) }),
    ),
  fc
    .string({ maxLength: 5 })
    .filter((v) => v !== '4')
    .map((v) => (p: Payload) => ((p.version = v), { body: JSON.stringify(p) })),
  fc.constant((p: Payload) => ((p.alerts = []), { body: JSON.stringify(p) })),
  fc.double().map((f) => (p: Payload) => {
    const s = JSON.stringify(p);
    return { body: s.slice(0, Math.floor(Math.abs(f % 1 || 0.5) * (s.length - 1))) };
  }),
  fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })).map(([pos, x]) => (p: Payload) => {
    // A byte changed after signing: the HMAC no longer matches.
    const s = Buffer.from(JSON.stringify(p));
    const sig = signBody(HMAC_SECRET, s);
    s[pos % s.length] ^= x;
    return {
      body: s.toString('latin1'),
      headers: { 'content-type': 'application/json', 'x-signature-256': sig },
    };
  }),
  fc
    .oneof(
      fc.constant(undefined),
      fc
        .string({ maxLength: 80 })
        .map((s) => `Bearer ${s}`)
        .filter((h) => h !== `Bearer ${TOKEN}`),
      fc.string({ maxLength: 80 }).filter((h) => !h.includes(TOKEN)),
    )
    .map((auth) => (p: Payload) => ({
      body: JSON.stringify(p),
      headers: {
        'content-type': 'application/json',
        ...(auth ? { authorization: auth.replace(/[^\x20-\x7e]/g, '') } : {}),
      },
    })),
);

test('mutated Alertmanager payloads: always a 4xx, never a start', async () => {
  await fc.assert(
    fc.asyncProperty(mutation, async (mutate) => {
      const { body, headers } = mutate(valid());
      const status = await send('/alerts/alertmanager', body, headers);
      expect(isRejection(status)).toBe(true);
    }),
    { numRuns: 2000 },
  );
});

test('random JSON values on both endpoints: always a 4xx', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.jsonValue({ maxDepth: 4 }),
      fc.constantFrom('/alerts/alertmanager', '/alerts'),
      async (v, url) => {
        expect(isRejection(await send(url, JSON.stringify(v) ?? 'null'))).toBe(true);
      },
    ),
    { numRuns: 1500 },
  );
});

test('random objects shaped a bit like alerts on the simple endpoint: always a 4xx', async () => {
  const almost = fc.record(
    {
      alertName: fc.oneof(fc.string(), fc.constantFrom(...known)),
      runbook: fc.oneof(fc.string({ maxLength: 5 }), fc.constantFrom('P0-1', 'P1-1')),
      status: fc.oneof(fc.string(), fc.constantFrom('firing', 'resolved')),
      target: fc.string({ maxLength: 300 }).filter((t) => !TARGET_NAME.test(t)),
      labels: fc.dictionary(fc.string({ maxLength: 10 }), fc.oneof(fc.string(), fc.integer())),
      values: fc.dictionary(fc.string({ maxLength: 10 }), fc.jsonValue({ maxDepth: 1 })),
      startsAt: fc.string({ maxLength: 30 }),
    },
    { requiredKeys: ['target'] },
  );
  await fc.assert(
    fc.asyncProperty(almost, async (v) => {
      expect(isRejection(await send('/alerts', JSON.stringify(v)))).toBe(true);
    }),
    { numRuns: 1000 },
  );
});

test('random bytes: always a 4xx', async () => {
  await fc.assert(
    fc.asyncProperty(fc.uint8Array({ maxLength: 2048 }), async (bytes) => {
      expect(isRejection(await send('/alerts/alertmanager', Buffer.from(bytes)))).toBe(true);
    }),
    { numRuns: 500 },
  );
});

test('nothing was started and no 5xx was ever answered', async () => {
  expect(statuses.length).toBeGreaterThanOrEqual(5000);
  expect(statuses.filter((s) => s >= 500)).toEqual([]);
  expect(rig.gateway.calls).toEqual({ fire: 0, resolve: 0 });
  expect(await rig.countStarted()).toBe(0);
});
