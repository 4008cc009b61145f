/**
 * The worker's approval-link settings (activities/approval-links.ts): APPROVAL_PAGE_URL, the page's
 * public origin put in links, and APPROVAL_LINK_KEY, which signs the view part of links. Both or
 * neither. The page service's own settings are in approval-page.ts.
 */
import { z } from 'zod';
import type { LinkSettings } from '../activities/approval-links';
import { ConfigError, parseEnv, type RawEnv } from './errors';

export const linkSchema = z.object({
  APPROVAL_PAGE_URL: z
    .string()
    .url({ message: 'must be a URL' })
    .refine((v) => /^https?:$/.test(new URL(v).protocol), { message: 'must use http or https' })
    .refine((v) => !new URL(v).search && !new URL(v).hash, { message: 'must have no query or fragment' })
    .optional(),
  APPROVAL_LINK_KEY: z.string().min(32, { message: 'must be at least 32 characters' }).optional(),
});

/** The worker's link settings: both variables or neither (then messages carry codes only). */
export function loadApprovalLinks(env: RawEnv = process.env): LinkSettings | undefined {
  const e = parseEnv(linkSchema, env);
  if (!e.APPROVAL_PAGE_URL && !e.APPROVAL_LINK_KEY) return undefined;
  if (!e.APPROVAL_PAGE_URL || !e.APPROVAL_LINK_KEY) {
    throw new ConfigError([
      `${e.APPROVAL_PAGE_URL ? 'APPROVAL_LINK_KEY' : 'APPROVAL_PAGE_URL'} is missing: approval links need both APPROVAL_PAGE_URL and APPROVAL_LINK_KEY (or set neither)`,
    ]);
  }
  return { pageUrl: e.APPROVAL_PAGE_URL, key: Buffer.from(e.APPROVAL_LINK_KEY, 'utf8') };
}
