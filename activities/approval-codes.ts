/**
 * One-time approval codes: made, bound to one incident workflow with a keyed MAC, and checked, on
 * the worker only.
 *
 * Anyone who can open the Temporal UI reads every history, so history holds nothing that lets a
 * reader test a guess offline: no code, no hash, no salted hash. The workflow keeps only
 * HMAC-SHA256(key, workflow ID, code), and the key (APPROVAL_CODE_KEY) lives on the worker; the
 * check runs in a local activity, whose input (the submitted code) never enters history, and it
 * answers with the matching code's ID only.
 *
 * Two strengths: a short code to read aloud and type on a phone (10 characters, 31^10 ≈ 2^49.5),
 * whose online guessing the workflow caps (workflows/approval.ts: past the cap every short code
 * becomes a long one), and a long code (30 characters, 31^30 ≈ 2^148.6) that needs no cap.
 */
import { createHmac, randomInt, timingSafeEqual } from 'node:crypto';
import type { CodeStrength } from '../definitions/approval';
import { nonRetryable, FailureType } from '../definitions/errors';

/** Unambiguous characters only (no 0/O, 1/I/L): codes are read aloud and typed by hand. */
export const CODE_ALPHABET = 'ABCDEFGHJKMNPQRSTUVWXYZ23456789';
export const CODE_LENGTH: Record<CodeStrength, number> = { short: 10, long: 30 };
/** Bits of entropy of each strength: log2(31) per character. */
export const codeBits = (s: CodeStrength) => CODE_LENGTH[s] * Math.log2(CODE_ALPHABET.length);
/** The smallest key the worker accepts (256 bits). */
export const MIN_KEY_BYTES = 32;

/** A fresh code in groups of five ("ABCDE-FGHJK"), from the OS's CSPRNG. */
export function newCode(strength: CodeStrength): string {
  let code = '';
  for (let i = 0; i < CODE_LENGTH[strength]; i++) code += CODE_ALPHABET[randomInt(CODE_ALPHABET.length)];
  return code.match(/.{1,5}/g)!.join('-');
}

/** Codes are read over the phone and typed by hand: case, spaces and dashes do not matter. */
export function normalizeCode(code: string): string {
  return code.toUpperCase().replace(/[\s-]/g, '');
}

function requireKey(key: Buffer | undefined): Buffer {
  if (!key || key.length < MIN_KEY_BYTES) {
    throw nonRetryable(
      FailureType.InvalidInput,
      `APPROVAL_CODE_KEY is not set on the worker (at least ${MIN_KEY_BYTES} bytes): no code can be made or checked`,
    );
  }
  return key;
}

/** The keyed MAC the workflow keeps instead of a code: worthless to anyone without the key. */
export function codeMac(key: Buffer | undefined, workflowId: string, code: string): string {
  return createHmac('sha256', requireKey(key))
    .update(`accubooks approval code v1\0${workflowId}\0${normalizeCode(code)}`)
    .digest('hex');
}

export interface CodeCandidate {
  codeId: string;
  mac: string;
}

export interface VerifyCodesInput {
  workflowId: string;
  /** What people submitted, in order (anything; only strings are checked). */
  codes: unknown[];
  /** Every code this workflow issued, live or not (so a spent one is named as spent). */
  candidates: CodeCandidate[];
}

/** For each submitted code, the ID of the issued code it is, or null. Constant-time compares. */
export function matchCodes(key: Buffer | undefined, input: VerifyCodesInput): (string | null)[] {
  const macs = input.candidates.map((c) => ({ codeId: c.codeId, mac: Buffer.from(c.mac, 'hex') }));
  return input.codes.map((code) => {
    if (typeof code !== 'string' || normalizeCode(code).length < 4 || code.length > 200) return null;
    const mac = Buffer.from(codeMac(key, input.workflowId, code), 'hex');
    let found: string | null = null;
    for (const c of macs) {
      if (c.mac.length === mac.length && timingSafeEqual(c.mac, mac)) found = c.codeId;
    }
    return found;
  });
}
