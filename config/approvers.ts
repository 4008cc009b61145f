/**
 * The approver directory: roles -> people, each with the channel(s) their one-time approval codes
 * go to. From APPROVERS_JSON (inline) or APPROVERS_FILE (a path), validated as a whole; every
 * problem is named. Example:
 *
 *   {"CEO": [{"id": "alice", "name": "Alice Ng", "email": "alice@accubooks.com"}],
 *    "CTO": [{"id": "bob", "name": "Bob Ito", "email": "bob@accubooks.com", "webhookUrl": "https://..."}],
 *    "Legal": [{"id": "legal", "name": "Legal team", "email": "legal@accubooks.com"}]}
 *
 * A person listed under two roles (same id) holds both; their channels must then agree.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import type { Approver, ApproverDirectory } from '../definitions/approval';

const person = z
  .object({
    id: z
      .string()
      .regex(/^[a-z0-9][a-z0-9._-]{0,63}$/, { message: 'must be a lower-case id like "alice" or "j.doe"' }),
    name: z.string().min(1).max(100),
    email: z.string().email({ message: 'must be an email address' }).optional(),
    webhookUrl: z
      .string()
      .url({ message: 'must be a URL' })
      .refine((v) => /^https?:$/.test(new URL(v).protocol), { message: 'must use http or https' })
      .optional(),
  })
  .strict()
  .refine((p) => p.email || p.webhookUrl, { message: 'needs an email or a webhookUrl to receive codes' });

const directorySchema = z.record(
  z.string().regex(/^[A-Za-z][A-Za-z0-9_-]{0,31}$/, { message: 'role names are words like CEO, CTO, Legal' }),
  z.array(person).min(1, { message: 'lists nobody' }),
);

/** Parses the directory; `problems` names every issue (with the variable it came from). */
export function parseApprovers(
  json: string | undefined,
  file: string | undefined,
): { directory: ApproverDirectory; problems: string[] } {
  const empty = { directory: { approvers: [] }, problems: [] as string[] };
  if (json && file)
    return { ...empty, problems: ['APPROVERS_JSON and APPROVERS_FILE are both set; use one'] };
  const source = json ? 'APPROVERS_JSON' : 'APPROVERS_FILE';
  let text = json;
  if (!text && file) {
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      return {
        ...empty,
        problems: [`APPROVERS_FILE cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`],
      };
    }
  }
  if (!text) return empty;
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return { ...empty, problems: [`${source} is not valid JSON`] };
  }
  const parsed = directorySchema.safeParse(raw);
  if (!parsed.success) {
    return {
      ...empty,
      problems: parsed.error.issues.map((i) => `${source} ${i.path.join('.') || '(root)'} ${i.message}`),
    };
  }
  const byId = new Map<string, Approver>();
  const problems: string[] = [];
  for (const [role, people] of Object.entries(parsed.data)) {
    for (const p of people) {
      const seen = byId.get(p.id);
      if (!seen) {
        byId.set(p.id, { ...p, roles: [role] });
      } else if (seen.email !== p.email || seen.webhookUrl !== p.webhookUrl) {
        problems.push(`${source} ${role}: "${p.id}" appears under several roles with different channels`);
      } else if (!seen.roles.includes(role)) {
        seen.roles.push(role);
      }
    }
  }
  return { directory: { approvers: [...byId.values()] }, problems };
}

/** The directory as it may be logged: who holds which role and which channels, not the addresses. */
export function describeApprovers(d: ApproverDirectory): Record<string, unknown>[] {
  return d.approvers.map((a) => ({
    id: a.id,
    roles: a.roles,
    channels: [a.email ? 'email' : '', a.webhookUrl ? 'webhook' : ''].filter(Boolean),
  }));
}
