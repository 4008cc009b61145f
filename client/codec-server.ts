#!/usr/bin/env node
/**
 * The codec server: the Temporal UI's (and `temporal --codec-endpoint`'s) "codec endpoint", so people
 * allowed to read incidents see clear payloads while the Temporal server keeps only ciphertext.
 *
 *   POST /codec/encode   POST /codec/decode   body and answer: {"payloads":[{"metadata":{…base64},"data":"base64"}]}
 *   GET  /               the sign-in form (POST /signin, POST /signout)
 *
 * Two ways in, both from the one secret CODEC_SERVER_TOKEN:
 *  - `Authorization: Bearer <token>`: the CLI (`temporal --codec-endpoint … --codec-auth 'Bearer …'`),
 *    scripts, anything that can set a header.
 *  - a session cookie, for the Web UI: the UI's codec client sends only `Content-Type` and
 *    `X-Namespace` (an `Authorization` header only with "pass access token", i.e. its OIDC token, and
 *    only to an https endpoint), plus cookies when "include cross-origin credentials" is on. So a
 *    person signs in once at this server's own page (the token typed into a form, never put in the
 *    UI's page), and gets an HttpOnly, SameSite=Strict cookie holding an HMAC-signed expiry, not the
 *    token. The UI at 127.0.0.1:<ui port> and this server at 127.0.0.1:<port> are the same site
 *    (SameSite ignores ports), so the browser sends the cookie with the UI's credentialed fetch; the
 *    server accepts the cookie only when the request's Origin is one of the configured UI origins.
 *
 * CORS answers only the configured UI origins (preflight included, since the UI sends X-Namespace and
 * a JSON body), with Allow-Credentials.
 *
 *   PAYLOAD_CODEC_KEYS=... CODEC_SERVER_TOKEN=... node dist/client/codec-server.js
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Payload } from '@temporalio/common';
import { ConfigError } from '../config/errors';
import { loadCodecServerConfig, type CodecServerConfig } from '../config/codec-server';
import { AesGcmCodec } from '../common/codec';

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

const sameSecret = (given: string, want: string): boolean => {
  const a = Buffer.from(given);
  const b = Buffer.from(want);
  return a.length === b.length && timingSafeEqual(a, b);
};

function tokenMatches(header: string | undefined, token: string): boolean {
  return sameSecret(/^Bearer (.+)$/.exec(header ?? '')?.[1] ?? '', token);
}

/** The session cookie's name; `__Host-` would need Secure, which a plain-http local stack cannot set. */
export const CODEC_SESSION_COOKIE = 'abk_codec_session';

/**
 * Stateless sessions: `<expiry s>.<nonce>.<HMAC(expiry.nonce)>` under a key derived from the token, so
 * the cookie never holds the token, survives a restart, and a new token ends every session.
 */
function sessionSigner(token: string) {
  const key = createHash('sha256').update(`abk codec session\0${token}`).digest();
  const mac = (body: string) => createHmac('sha256', key).update(body).digest('base64url');
  return {
    issue(ttlMs: number, now = Date.now()): string {
      const body = `${Math.floor((now + ttlMs) / 1000)}.${randomBytes(12).toString('base64url')}`;
      return `${body}.${mac(body)}`;
    },
    valid(value: string | undefined, now = Date.now()): boolean {
      const m = /^(\d{1,12})\.([\w-]{1,64})\.([\w-]{43})$/.exec(value ?? '');
      if (!m) return false;
      return sameSecret(m[3], mac(`${m[1]}.${m[2]}`)) && Number(m[1]) * 1000 > now;
    },
  };
}

function cookieOf(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function page(title: string, body: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font:16px system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem}
input,button{font:inherit;padding:.4rem .6rem}code{background:#eee;padding:0 .2rem}.err{color:#b00}</style>
</head><body><h1>${escapeHtml(title)}</h1>${body}</body></html>`;
}

type CodecServerSettings = Pick<CodecServerConfig, 'token' | 'corsOrigins' | 'codecKeys'> &
  Partial<Pick<CodecServerConfig, 'sessionHours' | 'cookieSecure'>>;

type Sessions = ReturnType<typeof sessionSigner>;

export async function buildCodecServer(
  cfg: CodecServerSettings,
  opts: { logger?: boolean | { level: string } } = {},
): Promise<FastifyInstance> {
  const codec = new AesGcmCodec(cfg.codecKeys);
  const sessions = sessionSigner(cfg.token);
  const app = Fastify({ logger: opts.logger ?? false, bodyLimit: 8 * 1024 * 1024 });
  app.addContentTypeParser(
    'application/x-www-form-urlencoded',
    { parseAs: 'string', bodyLimit: 4096 },
    (_req, body, done) => done(null, Object.fromEntries(new URLSearchParams(String(body)))),
  );
  guardCodecRoutes(app, cfg, sessions);
  signInRoutes(app, cfg, sessions);
  codecRoutes(app, codec);
  app.get('/healthz', (_req, reply) => reply.send({ ok: true }));
  return app;
}

/** CORS on every answer; /codec/ only with the token, or a session from an allowed UI origin. */
function guardCodecRoutes(app: FastifyInstance, cfg: CodecServerSettings, sessions: Sessions): void {
  const allowedOrigin = (req: FastifyRequest) => {
    const origin = req.headers.origin;
    return origin !== undefined && cfg.corsOrigins.includes(origin) ? origin : undefined;
  };
  const cors = (req: FastifyRequest, reply: FastifyReply) => {
    const origin = allowedOrigin(req);
    if (origin) {
      reply
        .header('Access-Control-Allow-Origin', origin)
        .header('Access-Control-Allow-Credentials', 'true')
        .header('Access-Control-Allow-Methods', 'POST, OPTIONS')
        .header(
          'Access-Control-Allow-Headers',
          'Content-Type, X-Namespace, Authorization, Authorization-Extras',
        )
        .header('Access-Control-Max-Age', '600');
    }
    reply.header('Vary', 'Origin');
  };

  app.addHook('onRequest', async (req, reply) => {
    cors(req, reply);
    if (!req.url.startsWith('/codec/')) return; // the sign-in pages and /healthz: no codec access
    if (req.method === 'OPTIONS') {
      // Preflight: CORS headers only, no auth (browsers send none); a foreign origin gets none.
      if (!allowedOrigin(req)) await reply.code(403).send({ error: 'origin not allowed' });
      return;
    }
    if (tokenMatches(req.headers.authorization, cfg.token)) return; // CLI, scripts
    if (sessions.valid(cookieOf(req.headers.cookie, CODEC_SESSION_COOKIE))) {
      // Browsers: the cookie rides along with any same-site request, so it counts only when the
      // page asking is one of the UI origins (a sibling site on another port is refused here).
      if (allowedOrigin(req)) return;
      await reply.code(403).send({ error: 'signed in, but this origin is not an allowed UI origin' });
      return;
    }
    await reply.code(401).send({
      error: 'not signed in: send Authorization: Bearer <token>, or sign in at / (browsers)',
    });
  });
}

/** The browser's way in: the sign-in page, POST /signin (the token, for a session cookie), POST /signout. */
function signInRoutes(app: FastifyInstance, cfg: CodecServerSettings, sessions: Sessions): void {
  const sessionMs = (cfg.sessionHours ?? 12) * 3_600_000;
  const signedIn = (req: FastifyRequest) =>
    sessions.valid(cookieOf(req.headers.cookie, CODEC_SESSION_COOKIE));
  const sessionCookie = (value: string, maxAgeS: number) =>
    `${CODEC_SESSION_COOKIE}=${value}; Path=/; Max-Age=${maxAgeS}; HttpOnly; SameSite=Strict` +
    (cfg.cookieSecure ? '; Secure' : '');
  /** A form post must come from this server's own page (or one with no Origin, as old browsers send). */
  const ownForm = (req: FastifyRequest) =>
    req.headers.origin === undefined || req.headers.origin === `${req.protocol}://${req.host}`;

  app.get('/', (req, reply) => {
    const base = `${req.protocol}://${req.host}`;
    const hint = `<p>In the Temporal UI, the codec server endpoint is <code>${escapeHtml(base)}/codec</code>
with <em>Include cross-origin credentials</em> on. Allowed UI origins: ${cfg.corsOrigins
      .map((o) => `<code>${escapeHtml(o)}</code>`)
      .join(', ')}.</p>`;
    const body = signedIn(req)
      ? `<p id="status">Signed in: this browser can read decrypted incidents in the Temporal UI.</p>${hint}
<form method="post" action="/signout"><button type="submit">Sign out</button></form>`
      : `<p id="status">Sign in with the codec server token to read decrypted incidents in the Temporal UI.</p>
<form method="post" action="/signin"><label>Token <input type="password" name="token" autocomplete="current-password" required></label>
<button type="submit">Sign in</button></form>${hint}`;
    return reply
      .type('text/html; charset=utf-8')
      .header('Cache-Control', 'no-store')
      .send(page('AccuBooks codec server', body));
  });

  app.post<{ Body: Record<string, string> | undefined }>('/signin', async (req, reply) => {
    reply.type('text/html; charset=utf-8').header('Cache-Control', 'no-store');
    if (!ownForm(req))
      return reply.code(403).send(page('Refused', "<p>Sign in from this server's own page.</p>"));
    const given = typeof req.body?.token === 'string' ? req.body.token : '';
    if (!sameSecret(given, cfg.token)) {
      await new Promise((r) => setTimeout(r, 250)); // slows guessing; the token is ≥16 characters anyway
      return reply
        .code(401)
        .send(
          page(
            'AccuBooks codec server',
            '<p class="err" id="status">Wrong token.</p><p><a href="/">Try again</a></p>',
          ),
        );
    }
    req.log.info('codec server: browser signed in');
    return reply
      .header('Set-Cookie', sessionCookie(sessions.issue(sessionMs), Math.floor(sessionMs / 1000)))
      .code(303)
      .header('Location', '/')
      .send('');
  });

  app.post('/signout', async (req, reply) => {
    if (!ownForm(req)) return reply.code(403).send({ error: "sign out from this server's own page" });
    return reply.header('Set-Cookie', sessionCookie('', 0)).code(303).header('Location', '/').send('');
  });
}

/** POST /codec/encode and /codec/decode (and their preflight). */
function codecRoutes(app: FastifyInstance, codec: AesGcmCodec): void {
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
}

export async function main(): Promise<void> {
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
