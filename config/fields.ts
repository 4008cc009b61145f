/**
 * Pieces every process's config is made of: the zod types of its variables, and the masking
 * its describe function uses before anything is logged.
 */
import { z } from 'zod';

export const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'], { message: 'must be true or false' })
  .transform((v) => v === 'true' || v === '1' || v === 'yes');

export const url = (protocols: string[]) =>
  z
    .string()
    .url({ message: 'must be a URL' })
    .refine((v) => protocols.includes(new URL(v).protocol.replace(/:$/, '')), {
      message: `must use ${protocols.join(' or ')}`,
    });

export const hostPort = z
  .string()
  .regex(/^[A-Za-z0-9_.:[\]-]+:\d{1,5}$/, { message: 'must be host:port, e.g. 127.0.0.1:7233' });

export const port = z.coerce.number().int().min(0).max(65535);

/** A comma-separated list, trimmed, empty entries dropped. */
export const commaList = z.string().transform((v) =>
  v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean),
);

/** A URL with its password (and any token in the query) replaced, safe for logs. */
export function maskUrl(raw: string | undefined): string | undefined {
  if (!raw) return raw;
  try {
    const u = new URL(raw);
    if (u.password) u.password = '***';
    for (const key of [...u.searchParams.keys()]) {
      if (/key|token|secret|password/i.test(key)) u.searchParams.set(key, '***');
    }
    return u.toString();
  } catch {
    return '***';
  }
}

/** A secret as it may be logged: whether it is set, never its value. */
export const setOrUnset = (v: unknown): 'set' | 'unset' => (v ? 'set' : 'unset');
