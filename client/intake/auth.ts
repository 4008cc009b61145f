/**
 * Caller authentication: a bearer token (what Alertmanager's http_config sends) or an HMAC-SHA256 of
 * the raw body (`X-Signature-256: sha256=<hex>`) for callers that sign. Comparisons are constant
 * time over fixed-length digests, so neither the value nor its length leaks through timing.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

export const SIGNATURE_HEADER = 'x-signature-256';

export interface AuthSettings {
  bearerToken?: string;
  hmacSecret?: string;
}

export type AuthResult = { ok: true; method: 'bearer' | 'hmac' } | { ok: false; problem: string };

const digest = (v: string | Buffer) => createHash('sha256').update(v).digest();
const sameSecret = (a: string, b: string) => timingSafeEqual(digest(a), digest(b));

export function signBody(secret: string, body: Buffer | string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

function header(headers: Record<string, string | string[] | undefined>, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

export function authenticate(
  settings: AuthSettings,
  headers: Record<string, string | string[] | undefined>,
  rawBody: Buffer,
): AuthResult {
  const accepted = [
    settings.bearerToken ? '`Authorization: Bearer <token>`' : undefined,
    settings.hmacSecret ? '`X-Signature-256: sha256=<hex HMAC-SHA256 of the body>`' : undefined,
  ].filter(Boolean);
  const authorization = header(headers, 'authorization');
  const signature = header(headers, SIGNATURE_HEADER);

  if (authorization !== undefined && settings.bearerToken) {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
    if (!m) return { ok: false, problem: 'the Authorization header is not of the form "Bearer <token>"' };
    return sameSecret(m[1], settings.bearerToken)
      ? { ok: true, method: 'bearer' }
      : { ok: false, problem: 'wrong bearer token' };
  }
  if (signature !== undefined && settings.hmacSecret) {
    if (!/^sha256=[0-9a-fA-F]{64}$/.test(signature)) {
      return { ok: false, problem: `the ${SIGNATURE_HEADER} header must be "sha256=<64 hex digits>"` };
    }
    const expected = signBody(settings.hmacSecret, rawBody);
    return sameSecret(signature.toLowerCase(), expected)
      ? { ok: true, method: 'hmac' }
      : { ok: false, problem: `wrong ${SIGNATURE_HEADER} signature for this body` };
  }
  if (authorization !== undefined || signature !== undefined) {
    return {
      ok: false,
      problem: `this intake does not accept that kind of credential; send ${accepted.join(' or ')}`,
    };
  }
  return { ok: false, problem: `missing credentials: send ${accepted.join(' or ')}` };
}
