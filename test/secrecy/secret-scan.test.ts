/**
 * The leak scan's rules (scripts/secret-scan.ts): which secrets it takes from the environment, and
 * where an approval code may appear in a history (only in the approver's own submission).
 */
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { APPROVAL_CODE, scanHistory, scanText, secretsFromEnv } from '../../scripts/secret-scan';

const enc = (s: string) => new TextEncoder().encode(s);
const payload = (v: unknown) => ({ metadata: { encoding: enc('json/plain') }, data: enc(JSON.stringify(v)) });

test('secrets come from the env: keys, tokens and the passwords inside URLs, never short or repeated ones', () => {
  const secrets = secretsFromEnv({
    STRIPE_API_KEY: 'sk_test_abcdef123',
    DATABASE_URL: 'postgresql://app:p%40ss-word-1@127.0.0.1:5432/db',
    RUNBOOK_DATABASE_URL: 'postgresql://runbook:p%40ss-word-1@127.0.0.1:5432/db',
    REDIS_URL: 'redis://127.0.0.1:6379',
    INTAKE_BEARER_TOKEN: 'abc',
    PAYLOAD_CODEC_KEYS: 'k1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=',
  });
  expect(secrets).toEqual([
    { name: 'STRIPE_API_KEY', value: 'sk_test_abcdef123' },
    { name: 'DATABASE_URL password', value: 'p@ss-word-1' },
    { name: 'PAYLOAD_CODEC_KEYS k1', value: 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=' },
  ]);
});

test('every code the approval alphabet can make has the scanned shape; ordinary text does not', () => {
  const alphabet = 'ABCDEFGHJKMNPQRSTUVWXYZ23456789'.split('');
  const group = fc.array(fc.constantFrom(...alphabet), { minLength: 5, maxLength: 5 }).map((a) => a.join(''));
  fc.assert(
    fc.property(group, group, (a, b) => {
      expect(`code: ${a}-${b}.`.match(APPROVAL_CODE)).toEqual([`${a}-${b}`]);
    }),
  );
  for (const text of [
    'ABCDE-12345',
    'P0-1-abk-api-20261127T160059Z',
    'HTTP-STATUS-CODE',
    'sha256=ABCDEF-GHJKMN',
  ]) {
    expect(scanText(text, 'x', [])).toEqual([]);
  }
});

test('in a history, a code is allowed only in an approval or abandon signal; a secret nowhere', () => {
  const code = 'ABCDE-FGH23';
  const events = [
    {
      eventId: 5,
      workflowExecutionSignaledEventAttributes: {
        signalName: 'approval',
        input: { payloads: [payload({ code })] },
      },
    },
    {
      eventId: 6,
      workflowExecutionSignaledEventAttributes: {
        signalName: 'abandon',
        input: { payloads: [payload({ by: 'cto', reason: 'x', code })] },
      },
    },
    {
      eventId: 7,
      activityTaskCompletedEventAttributes: { result: { payloads: [payload({ sent: code })] } },
    },
    {
      eventId: 8,
      workflowExecutionSignaledEventAttributes: {
        signalName: 'resolve',
        input: { payloads: [payload({ code })] },
      },
    },
    {
      eventId: 9,
      activityTaskFailedEventAttributes: {
        failure: { message: 'connect failed: postgresql://u:hunter22@db' },
      },
    },
  ];
  const hits = scanHistory(events, 'h', [{ name: 'DB password', value: 'hunter22' }]);
  expect(hits.map((h) => `${h.what} ${h.where.replace(/ @\d+$/, '')}`)).toEqual([
    'approval code h event 7',
    'approval code h event 8',
    'DB password h event 9',
  ]);
});

test('nothing in a history can test a guess offline: no hash or salt field, no plain SHA-256 of a submitted code', () => {
  const code = 'ABCDE-FGH23';
  const sha = (s: string) => createHash('sha256').update(s).digest('hex');
  const events = [
    {
      eventId: 5,
      workflowExecutionSignaledEventAttributes: {
        signalName: 'approval',
        input: { payloads: [payload({ code })] },
      },
    },
    {
      eventId: 6,
      activityTaskCompletedEventAttributes: {
        result: {
          payloads: [payload({ issued: [{ approver: 'ceo', salt: 'ab12', hash: sha(`ab12${code}`) }] })],
        },
      },
    },
    {
      eventId: 7,
      activityTaskCompletedEventAttributes: {
        result: { payloads: [payload({ digest: sha(code.replace('-', '')) })] },
      },
    },
    {
      // A MAC under the worker's key is not testable without the key: allowed.
      eventId: 8,
      activityTaskCompletedEventAttributes: { result: { payloads: [payload({ mac: sha(`key${code}`) })] } },
    },
  ];
  expect(scanHistory(events, 'h', []).map((h) => `${h.what} ${h.where.replace(/ @\d+$/, '')}`)).toEqual([
    'a "salt" field h event 6',
    'a "hash" field h event 6',
    'an unkeyed hash of a submitted code h event 7',
  ]);
});
