/**
 * Caller authentication: a bearer token or HTTP basic auth (the two that Alertmanager's http_config
 * sends: `authorization` and `basic_auth`), or an HMAC-SHA256 of the raw body
 * (`X-Signature-256: sha256=<hex>`) for callers that sign. Comparisons are constant time over
 * fixed-length digests, so neither the value nor its length leaks through timing.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

export const SIGNATURE_HEADER = 'x-signature-256';

export interface AuthSettings {
  bearerToken?: string;
  hmacSecret?: string;
  /** `Authorization: Basic` (Alertmanager's `basic_auth`): both must match. */
  basic?: { username: string; password: string };
}

export type AuthResult = { ok: true; method: 'bearer' | 'basic' | 'hmac' } | { ok: false; problem: string };

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
    settings.basic ? '`Authorization: Basic <base64 of username:password>`' : undefined,
    settings.hmacSecret ? '`X-Signature-256: sha256=<hex HMAC-SHA256 of the body>`' : undefined,
  ].filter(Boolean);
  const authorization = header(headers, 'authorization');
  const signature = header(headers, SIGNATURE_HEADER);

  const scheme = authorization?.trim().split(/\s+/, 1)[0]?.toLowerCase();
  if (authorization !== undefined && settings.bearerToken && (scheme === 'bearer' || !settings.basic)) {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
    if (!m) return { ok: false, problem: 'the Authorization header is not of the form "Bearer <token>"' };
    return sameSecret(m[1], settings.bearerToken)
      ? { ok: true, method: 'bearer' }
      : { ok: false, problem: 'wrong bearer token' };
  }
  if (authorization !== undefined && settings.basic && (scheme === 'basic' || !settings.bearerToken)) {
    const m = /^Basic\s+([A-Za-z0-9+/]+={0,2})\s*$/i.exec(authorization);
    const decoded = m ? Buffer.from(m[1], 'base64').toString('utf8') : '';
    const colon = decoded.indexOf(':');
    if (colon < 0) {
      return {
        ok: false,
        problem: 'the Authorization header is not of the form "Basic <base64 of username:password>"',
      };
    }
    // Both compared, always: which of the two was wrong is not told.
    const userOk = sameSecret(decoded.slice(0, colon), settings.basic.username);
    const passwordOk = sameSecret(decoded.slice(colon + 1), settings.basic.password);
    return userOk && passwordOk
      ? { ok: true, method: 'basic' }
      : { ok: false, problem: 'wrong username or password (basic auth)' };
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
