#!/usr/bin/env node
/**
 * The codec server: the Temporal UI's (and `temporal --codec-endpoint`'s) "codec endpoint", so people
 * allowed to read incidents see clear payloads while the Temporal server keeps only ciphertext.
 *
 *   POST /codec/encode   POST /codec/decode   body and answer: {"payloads":[{"metadata":{…base64},"data":"base64"}]}
 *
 * Every request needs `Authorization: Bearer <CODEC_SERVER_TOKEN>`; CORS answers only the configured UI
 * origins (preflight included, since the UI sends X-Namespace and Authorization).
 *
 *   PAYLOAD_CODEC_KEYS=... CODEC_SERVER_TOKEN=... node dist/client/codec-server.js
 */
import { timingSafeEqual } from 'node:crypto';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Payload } from '@temporalio/common';
import { ConfigError, loadCodecServerConfig, type CodecServerConfig } from '../config';
import { AesGcmCodec } from './codec';

interface JsonPayload {
  metadata?: Record<string, string>;
  data?: string;
}

const fromJson = (p: JsonPayload): Payload => ({
  metadata: Object.fromEntries(
    Object.entries(p.metadata ?? {}).map(([k, v]) => [k, new Uint8Array(Buffer.from(v, 'base64'))]),
  ),
  data: new Uint8Array(Buffer.from(p.data ?? '', 'base64')),
});

const toJson = (p: Payload): JsonPayload => ({
  metadata: Object.fromEntries(
    Object.entries(p.metadata ?? {}).map(([k, v]) => [
      k,
      Buffer.from(v ?? new Uint8Array()).toString('base64'),
    ]),
  ),
  data: Buffer.from(p.data ?? new Uint8Array()).toString('base64'),
});

const bodySchema = {
  type: 'object',
  required: ['payloads'],
  properties: {
    payloads: {
      type: 'array',
      maxItems: 1000,
      items: {
        type: 'object',
        properties: {
          metadata: { type: 'object', additionalProperties: { type: 'string' } },
          data: { type: 'string' },
        },
      },
    },
  },
} as const;

function tokenMatches(header: string | undefined, token: string): boolean {
  const given = Buffer.from(/^Bearer (.+)$/.exec(header ?? '')?.[1] ?? '');
  const want = Buffer.from(token);
  return given.length === want.length && timingSafeEqual(given, want);
}

export async function buildCodecServer(
  cfg: Pick<CodecServerConfig, 'token' | 'corsOrigins' | 'codecKeys'>,
  opts: { logger?: boolean | { level: string } } = {},
): Promise<FastifyInstance> {
  const codec = new AesGcmCodec(cfg.codecKeys);
  const app = Fastify({ logger: opts.logger ?? false, bodyLimit: 8 * 1024 * 1024 });

  const cors = (req: FastifyRequest, reply: FastifyReply) => {
    const origin = req.headers.origin;
    if (origin && cfg.corsOrigins.includes(origin)) {
      reply
        .header('Access-Control-Allow-Origin', origin)
        .header('Vary', 'Origin')
        .header('Access-Control-Allow-Credentials', 'true')
        .header('Access-Control-Allow-Methods', 'POST, OPTIONS')
        .header('Access-Control-Allow-Headers', 'Content-Type, X-Namespace, Authorization')
        .header('Access-Control-Max-Age', '600');
    }
  };

  app.addHook('onRequest', async (req, reply) => {
    cors(req, reply);
    if (req.method === 'OPTIONS') return; // preflight: CORS headers only, no auth
    if (!tokenMatches(req.headers.authorization, cfg.token)) {
      await reply.code(401).send({ error: 'missing or wrong Authorization: Bearer token' });
    }
  });

  app.options('/codec/:op', async (_req, reply) => reply.code(204).send());

  for (const op of ['encode', 'decode'] as const) {
    app.post<{ Body: { payloads: JsonPayload[] } }>(
      `/codec/${op}`,
      { schema: { body: bodySchema } },
      async (req, reply) => {
        try {
          const payloads = req.body.payloads.map(fromJson);
          const out = op === 'encode' ? await codec.encode(payloads) : await codec.decode(payloads);
          return { payloads: out.map(toJson) };
        } catch (err) {
          // A payload under an unknown key, or tampered with: the caller's problem, named, never a 5xx.
          return reply.code(400).send({ error: err instanceof Error ? err.message : String(err) });
        }
      },
    );
  }
  app.get('/healthz', (_req, reply) => reply.send({ ok: true }));
  return app;
}

async function main(): Promise<void> {
  let cfg: CodecServerConfig;
  try {
    cfg = loadCodecServerConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const app = await buildCodecServer(cfg, { logger: { level: 'info' } });
  app.log.info(
    { corsOrigins: cfg.corsOrigins, keyIds: cfg.codecKeys.map((k) => k.id) },
    'codec server starting',
  );
  const stop = () => void app.close();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  await app.listen({ host: cfg.host, port: cfg.port });
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(`codec server failed: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
