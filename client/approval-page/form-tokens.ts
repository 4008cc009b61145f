/**
 * Per-form tokens (CSRF and double submits): each page shown with a form gets a fresh random token
 * (128 bits) bound to its link; a POST must bring it back, once. A second POST of the same form (a
 * double tap, a browser resubmission, a replayed request) finds it gone. Kept in memory: a restart
 * of the page only means the person opens the link again.
 */
import { createHash, randomBytes } from 'node:crypto';

export interface FormTokens {
  issue(linkId: string): string;
  /** True once per token, for the link it was issued for, within its lifetime. */
  consume(token: string, linkId: string): 'ok' | 'unknown' | 'used' | 'other-link' | 'expired';
}

/** The link a token is bound to, hashed: the map never holds a link's secret. */
export const linkIdOf = (path: string, code: string) =>
  createHash('sha256').update(`${path}\0${code}`).digest('base64url');

export function createFormTokens(ttlMs = 30 * 60_000, max = 10_000): FormTokens {
  const tokens = new Map<string, { linkId: string; at: number; usedAt?: number }>();
  const prune = () => {
    const now = Date.now();
    for (const [k, v] of tokens) if (now - v.at > ttlMs * 2) tokens.delete(k);
    // A flood of GETs cannot grow memory without bound: the oldest go first.
    while (tokens.size >= max) tokens.delete(tokens.keys().next().value!);
  };
  return {
    issue(linkId) {
      prune();
      const token = randomBytes(16).toString('base64url');
      tokens.set(token, { linkId, at: Date.now() });
      return token;
    },
    consume(token, linkId) {
      const t = tokens.get(token);
      if (!t) return 'unknown';
      if (t.linkId !== linkId) return 'other-link';
      if (t.usedAt) return 'used';
      t.usedAt = Date.now();
      if (Date.now() - t.at > ttlMs) return 'expired';
      return 'ok';
    },
  };
}
