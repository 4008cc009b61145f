/**
 * Nothing secret reaches a report: values under secret-looking keys (approval codes, their hashes and
 * salts, passwords, tokens, keys) are replaced, credentials inside free text are masked, approval
 * codes in free text are masked, and any exact secret value the caller knows is removed.
 */
import { redact } from '../../definitions/errors';

export const REDACTED = '[redacted]';

const SECRET_KEY =
  /code|otp|passw|pwd|secret|token|api.?key|authori[sz]ation|routing.?key|hash|salt|cookie|credential|private.?key/i;
/** Keys that match the pattern above but are not secret. */
const PLAIN_KEY = /^(exit|status|http|response|error|failure|country|postal|zip)_?code$/i;

export const isSecretKey = (key: string): boolean => SECRET_KEY.test(key) && !PLAIN_KEY.test(key);

/** One-time approval codes look like "ABCDE-FGH23" (unambiguous alphabet); numeric OTPs are 6-8 digits after "code". */
const CODE_IN_TEXT: [RegExp, string][] = [
  [/\b[A-HJ-NP-Z2-9]{5}-[A-HJ-NP-Z2-9]{5}\b/g, REDACTED],
  [/\b(code|otp)(\s*[:=]\s*["']?|\s+)(?=[A-Za-z0-9-]*\d)[A-Za-z0-9-]{4,}/gi, `$1$2${REDACTED}`],
];

export function sanitizeText(text: string, secrets: readonly string[] = []): string {
  let out = redact(text);
  for (const [re, by] of CODE_IN_TEXT) out = out.replace(re, by);
  for (const s of secrets) if (s && s.length >= 4) out = out.split(s).join(REDACTED);
  return out;
}

/** A deep copy with secret keys replaced and every string sanitized. */
export function sanitizeValue(value: unknown, secrets: readonly string[] = [], depth = 0): unknown {
  if (typeof value === 'string') return sanitizeText(value, secrets);
  if (value === null || typeof value !== 'object') return value;
  if (depth > 12) return '[…]';
  if (Array.isArray(value)) return value.map((v) => sanitizeValue(v, secrets, depth + 1));
  return Object.fromEntries(
    Object.entries(value as Record<string, unknown>).map(([k, v]) => [
      k,
      isSecretKey(k) && v !== null && v !== undefined && typeof v !== 'boolean'
        ? REDACTED
        : sanitizeValue(v, secrets, depth + 1),
    ]),
  );
}
