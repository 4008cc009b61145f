/**
 * Encrypted history: the AES-256-GCM codec (rotation by key ID, tampering, clear pass-through), the
 * codec server (Bearer auth for the CLI, the sign-in cookie for the Web UI, CORS, the protocol), and an incident on the dev server run by a client and a
 * worker that share the codec, whose history as stored holds only ciphertext.
 */
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, type Worker } from '@temporalio/worker';
import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import { createActivities } from '../../activities';
import { AesGcmCodec, decryptPayloadsIn, generateCodecKey, parseCodecKeys } from '../../common/codec';
import { buildCodecServer } from '../../client/codec-server';
import { startIncident } from '../../client/incidents';
import { describeIntakeConfig, loadIntakeConfig } from '../../config/intake';
import { loadTemporalConfig } from '../../config/temporal';
import { secretsOf } from '../../config/secrets';
import { resolveSignal, stateQuery } from '../../definitions/messages';
import { targetLeaseWorkflowId } from '../../definitions/target-guard';
import { testClients } from '../../rig/deps';
import { need, uniqueId } from '../../rig/env';
import { createTestWorker } from '../../rig/temporal';

const keysA = parseCodecKeys(generateCodecKey('a')).keys;
const keysB = parseCodecKeys(generateCodecKey('b')).keys;
const clear: Payload = defaultPayloadConverter.toPayload({ code: 'ABCDE-12345', note: 'a secret' });

describe('AesGcmCodec', () => {
  test('round trip; the ciphertext names its key and hides the payload', async () => {
    const codec = new AesGcmCodec(keysA);
    const [sealed] = await codec.encode([clear]);
    expect(Buffer.from(sealed.metadata!.encoding).toString()).toBe('binary/encrypted');
    expect(Buffer.from(sealed.metadata!['encryption-key-id']).toString()).toBe('a');
    expect(Buffer.from(sealed.data!).toString('latin1')).not.toContain('ABCDE-12345');
    const [opened] = await codec.decode([sealed]);
    expect(defaultPayloadConverter.fromPayload(opened)).toEqual({ code: 'ABCDE-12345', note: 'a secret' });
  });

  test('rotation: a new active key still opens payloads sealed under the old one, by ID', async () => {
    const [old] = await new AesGcmCodec(keysA).encode([clear]);
    const rotated = new AesGcmCodec([...keysB, ...keysA]);
    expect(rotated.activeKeyId).toBe('b');
    expect(defaultPayloadConverter.fromPayload((await rotated.decode([old]))[0])).toMatchObject({
      note: 'a secret',
    });
    await expect(new AesGcmCodec(keysB).decode([old])).rejects.toThrow(/unknown key ID "a"/);
  });

  test('a tampered payload fails authentication; a clear payload passes through', async () => {
    const codec = new AesGcmCodec(keysA);
    const [sealed] = await codec.encode([clear]);
    const data = Buffer.from(sealed.data!);
    data[20] ^= 1;
    await expect(codec.decode([{ ...sealed, data }])).rejects.toThrow(/failed authentication/);
    expect(await codec.decode([clear])).toEqual([clear]);
  });

  test('config: bad keys are named; keys are never printed', () => {
    expect(parseCodecKeys('a:short,b').problems).toEqual([
      'key a must be 32 bytes base64-encoded (got 3)',
      'entry 2 must be keyId:base64key',
    ]);
    const env = { PAYLOAD_CODEC_KEYS: generateCodecKey('k1') };
    expect(() => loadTemporalConfig({ PAYLOAD_CODEC_KEYS: 'x:AAAA' })).toThrow(
      /PAYLOAD_CODEC_KEYS key x must be 32 bytes/,
    );
    expect(loadTemporalConfig(env).codecKeys?.map((k) => k.id)).toEqual(['k1']);
    const intake = loadIntakeConfig({ ...env, INTAKE_BEARER_TOKEN: 'intake-token-0123456789' });
    const printed = JSON.stringify(describeIntakeConfig(intake));
    expect(printed).toContain('"codecKeys":["k1"]');
    expect(printed).not.toContain(env.PAYLOAD_CODEC_KEYS.split(':')[1]);
    expect(secretsOf(intake)).toContain(env.PAYLOAD_CODEC_KEYS.split(':')[1]);
  });
});

describe('codec server', () => {
  const token = 'codec-token-0123456789';
  const origin = 'http://127.0.0.1:8233';
  const body = (p: Payload) => ({
    payloads: [
      {
        metadata: Object.fromEntries(
          Object.entries(p.metadata!).map(([k, v]) => [k, Buffer.from(v).toString('base64')]),
        ),
        data: Buffer.from(p.data!).toString('base64'),
      },
    ],
  });

  /** Real HTTP (fastify's inject pulls an ESM-only module that Jest cannot load). */
  const client =
    (base: string) =>
    async (r: {
      method: string;
      url: string;
      headers: Record<string, string>;
      payload?: unknown;
      form?: Record<string, string>;
    }) => {
      const res = await fetch(`${base}${r.url}`, {
        method: r.method,
        redirect: 'manual',
        headers: {
          ...r.headers,
          ...(r.payload ? { 'content-type': 'application/json' } : {}),
          ...(r.form ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
        },
        body: r.payload
          ? JSON.stringify(r.payload)
          : r.form
            ? new URLSearchParams(r.form).toString()
            : undefined,
      });
      const text = await res.text();
      return {
        statusCode: res.status,
        headers: Object.fromEntries(res.headers.entries()) as Record<string, string | undefined>,
        text,
        json: <T = unknown>() => JSON.parse(text) as T,
      };
    };

  test('encode then decode over HTTP, with auth and CORS for the UI origin only', async () => {
    const app = await buildCodecServer({ token, corsOrigins: [origin], codecKeys: keysA });
    const inject = client(await app.listen({ host: '127.0.0.1', port: 0 }));
    try {
      const pre = await inject({
        method: 'OPTIONS',
        url: '/codec/decode',
        headers: {
          origin,
          'access-control-request-method': 'POST',
          'access-control-request-headers': 'x-namespace,authorization',
        },
      });
      expect(pre.statusCode).toBe(204);
      expect(pre.headers['access-control-allow-origin']).toBe(origin);
      expect(String(pre.headers['access-control-allow-headers'])).toMatch(/Authorization/);

      const anon = await inject({
        method: 'POST',
        url: '/codec/decode',
        payload: body(clear),
        headers: { origin },
      });
      expect(anon.statusCode).toBe(401);
      const other = await inject({
        method: 'POST',
        url: '/codec/encode',
        payload: body(clear),
        headers: { origin: 'http://evil.example', authorization: 'Bearer wrong-token-0123456789' },
      });
      expect(other.statusCode).toBe(401);
      expect(other.headers['access-control-allow-origin']).toBeUndefined();

      const auth = { authorization: `Bearer ${token}`, origin, 'x-namespace': 'default' };
      const encoded = await inject({
        method: 'POST',
        url: '/codec/encode',
        payload: body(clear),
        headers: auth,
      });
      expect(encoded.statusCode).toBe(200);
      const sealed = encoded.json<{ payloads: { metadata: Record<string, string>; data: string }[] }>();
      expect(Buffer.from(sealed.payloads[0].metadata.encoding, 'base64').toString()).toBe('binary/encrypted');
      const decoded = await inject({
        method: 'POST',
        url: '/codec/decode',
        payload: sealed,
        headers: auth,
      });
      expect(decoded.statusCode).toBe(200);
      expect(decoded.json()).toEqual(body(clear));

      const foreign = await new AesGcmCodec(keysB).encode([clear]);
      const bad = await inject({
        method: 'POST',
        url: '/codec/decode',
        payload: body(foreign[0]),
        headers: auth,
      });
      expect(bad.statusCode).toBe(400);
      expect(bad.json()).toEqual({ error: 'payload encrypted with unknown key ID "b"' });
    } finally {
      await app.close();
    }
  });

  test('the Web UI path: a person signs in with the form; the cookie opens the codec for the UI origins only', async () => {
    const app = await buildCodecServer({ token, corsOrigins: [origin], codecKeys: keysA });
    const base = await app.listen({ host: '127.0.0.1', port: 0 });
    const inject = client(base);
    // What the UI's codec client sends: JSON, X-Namespace, and (include credentials) its cookies.
    const fromUi = (cookie?: string, from = origin) => ({
      origin: from,
      'x-namespace': 'default',
      ...(cookie ? { cookie } : {}),
    });
    try {
      // Without credentials: refused (with CORS headers, so the UI can tell why).
      const anon = await inject({
        method: 'POST',
        url: '/codec/decode',
        payload: body(clear),
        headers: fromUi(),
      });
      expect(anon.statusCode).toBe(401);
      expect(anon.headers['access-control-allow-origin']).toBe(origin);
      expect(anon.headers['access-control-allow-credentials']).toBe('true');

      // The sign-in page is a plain form posting the token to /signin.
      const form = await inject({ method: 'GET', url: '/', headers: {} });
      expect(form.statusCode).toBe(200);
      expect(form.text).toMatch(/<form method="post" action="\/signin">/);
      expect(form.text).toContain(`${base}/codec`);

      const wrong = await inject({
        method: 'POST',
        url: '/signin',
        form: { token: 'wrong-token-0123456789' },
        headers: { origin: base },
      });
      expect(wrong.statusCode).toBe(401);
      expect(wrong.headers['set-cookie']).toBeUndefined();
      // A sign-in posted from another site's page is refused (login CSRF).
      const foreignForm = await inject({
        method: 'POST',
        url: '/signin',
        form: { token },
        headers: { origin: 'http://evil.example' },
      });
      expect(foreignForm.statusCode).toBe(403);
      expect(foreignForm.headers['set-cookie']).toBeUndefined();

      const ok = await inject({ method: 'POST', url: '/signin', form: { token }, headers: { origin: base } });
      expect(ok.statusCode).toBe(303);
      const setCookie = ok.headers['set-cookie']!;
      expect(setCookie).toMatch(
        /^abk_codec_session=[\w.-]+; Path=\/; Max-Age=43200; HttpOnly; SameSite=Strict$/,
      );
      expect(setCookie).not.toContain(token);
      const cookie = setCookie.split(';')[0];
      expect((await inject({ method: 'GET', url: '/', headers: { cookie } })).text).toContain('Signed in');

      // The cookie from the UI origin: decodes what the Bearer path encodes.
      const sealed = await inject({
        method: 'POST',
        url: '/codec/encode',
        payload: body(clear),
        headers: fromUi(cookie),
      });
      expect(sealed.statusCode).toBe(200);
      expect(sealed.headers['access-control-allow-origin']).toBe(origin);
      const opened = await inject({
        method: 'POST',
        url: '/codec/decode?preserveStorageRefs=true',
        payload: sealed.json(),
        headers: fromUi(cookie),
      });
      expect(opened.statusCode).toBe(200);
      expect(opened.json()).toEqual(body(clear));

      // The same cookie from another origin (e.g. another port on the same host, same site): no
      // CORS headers for the browser, and a 403 before any decryption.
      const sibling = 'http://127.0.0.1:9999';
      const pre = await inject({
        method: 'OPTIONS',
        url: '/codec/decode',
        headers: { origin: sibling, 'access-control-request-method': 'POST' },
      });
      expect(pre.statusCode).toBe(403);
      expect(pre.headers['access-control-allow-origin']).toBeUndefined();
      const stolen = await inject({
        method: 'POST',
        url: '/codec/decode',
        payload: sealed.json(),
        headers: fromUi(cookie, sibling),
      });
      expect(stolen.statusCode).toBe(403);
      expect(stolen.headers['access-control-allow-origin']).toBeUndefined();
      // A cookie with no Origin (not a browser's CORS request) is not enough either.
      const noOrigin = await inject({
        method: 'POST',
        url: '/codec/decode',
        payload: sealed.json(),
        headers: { cookie },
      });
      expect(noOrigin.statusCode).toBe(403);

      // Tampered, or signed under another token (a new token ends every session): refused.
      const [exp, nonce, mac] = cookie.split('=')[1].split('.');
      const forged = `abk_codec_session=${Number(exp) + 86400}.${nonce}.${mac}`;
      expect(
        (
          await inject({
            method: 'POST',
            url: '/codec/decode',
            payload: body(clear),
            headers: fromUi(forged),
          })
        ).statusCode,
      ).toBe(401);
      const other = await buildCodecServer({
        token: 'another-token-0123456789',
        corsOrigins: [origin],
        codecKeys: keysA,
      });
      try {
        const otherInject = client(await other.listen({ host: '127.0.0.1', port: 0 }));
        expect(
          (
            await otherInject({
              method: 'POST',
              url: '/codec/decode',
              payload: body(clear),
              headers: fromUi(cookie),
            })
          ).statusCode,
        ).toBe(401);
      } finally {
        await other.close();
      }

      // Signing out clears the cookie.
      const out = await inject({ method: 'POST', url: '/signout', headers: { origin: base, cookie } });
      expect(out.statusCode).toBe(303);
      expect(out.headers['set-cookie']).toMatch(
        /^abk_codec_session=; Path=\/; Max-Age=0; HttpOnly; SameSite=Strict$/,
      );
    } finally {
      await app.close();
    }
  });
});

describe('an incident on the dev server with the codec', () => {
  const taskQueue = uniqueId('codec');
  const marker = `clear-marker-${Date.now()}`;
  let worker: Worker;
  let running: Promise<void>;
  let client: Client;
  let raw: Client;
  let clients: ReturnType<typeof testClients>;

  beforeAll(async () => {
    clients = testClients({ health: { apiUrls: {} } });
    worker = await createTestWorker({
      connection: await NativeConnection.connect({ address: need('TEMPORAL_ADDRESS') }),
      taskQueue,
      activities: createActivities(clients.deps),
      dataConverter: { payloadCodecs: [new AesGcmCodec(keysA)] },
    });
    running = worker.run();
    const connection = await Connection.connect({ address: need('TEMPORAL_ADDRESS') });
    client = new Client({ connection, dataConverter: { payloadCodecs: [new AesGcmCodec(keysA)] } });
    raw = new Client({ connection });
  });

  afterAll(async () => {
    worker?.shutdown();
    await running;
    await client?.connection.close();
    await clients?.close();
  });

  test('the client and worker read each other; the server keeps ciphertext only', async () => {
    const workflowId = uniqueId('codec-incident');
    const target = uniqueId('abk-codec');
    const handle = await startIncident({
      client,
      taskQueue,
      runbook: 'P0-1',
      target,
      trigger: { source: 'manual', startedBy: 'codec test', description: marker },
      workflowId,
    });
    // A query answered by the worker (encrypted) and decrypted by the client.
    expect((await handle.query(stateQuery)).runbook).toBe('P0-1');
    // A resolve claim (refused: the target does not exist, so health is not 200) carries the marker
    // through the codec both ways: the worker decrypts it, the state query returns it encrypted.
    await handle.signal(resolveSignal, { by: 'codec test', reason: marker });
    const deadline = Date.now() + 45_000;
    let final = await handle.query(stateQuery);
    while (!final.closeRequests?.some((c) => c.outcome === 'refused') && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 200));
      final = await handle.query(stateQuery);
    }
    // The incident and the target's guard would outlive this run's task queue (and keys): end them.
    await Promise.allSettled(
      [workflowId, targetLeaseWorkflowId(target)].map((id) =>
        client.workflow.getHandle(id).terminate('codec test finished'),
      ),
    );
    expect(final.closeRequests?.[0]).toMatchObject({
      action: 'resolve',
      by: 'codec test',
      reason: marker,
      outcome: 'refused',
    });

    // As stored: no clear marker anywhere, every payload in the history sealed under key "a".
    const history = await raw.workflow.getHandle(workflowId).fetchHistory();
    const bytes = Buffer.from(JSON.stringify(history));
    expect(bytes.includes(marker)).toBe(false);
    const encodings = new Set<string>();
    const walk = (v: unknown, path: string): void => {
      if (!v || typeof v !== 'object' || v instanceof Uint8Array) return;
      const o = v as Record<string, unknown>;
      const meta = o.metadata as Record<string, Uint8Array> | undefined;
      if (meta?.encoding instanceof Uint8Array && 'data' in o) {
        // Search attributes are indexed by the server, so they stay clear by design.
        if (!/searchAttributes|indexedFields/.test(path))
          encodings.add(Buffer.from(meta.encoding).toString());
        return;
      }
      for (const [k, c] of Object.entries(o)) walk(c, `${path}.${k}`);
    };
    walk(history, '');
    expect([...encodings]).toEqual(['binary/encrypted']);
    // The history decrypts with the key.
    const opened = decryptPayloadsIn(history, new AesGcmCodec(keysA));
    const input = opened.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0];
    expect(defaultPayloadConverter.fromPayload(input!)).toMatchObject({ trigger: { description: marker } });
  }, 60_000);
});
