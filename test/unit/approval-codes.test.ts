/**
 * Approval codes on the worker (activities/approval-codes.ts): strengths, the keyed MAC that is all a
 * workflow keeps, matching, and the gate-policy table (overrides tighten, never loosen).
 */
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { parseApprovers } from '../../config/approvers';
import {
  CODE_ALPHABET,
  codeBits,
  codeMac,
  matchCodes,
  newCode,
  normalizeCode,
} from '../../activities/approval-codes';
import { loosenedFields, withDefaults } from '../../definitions/policies/gate-policy';
import { billingErrorDefaults } from '../../definitions/policies/billing-error';
import { dataIntegrityDefaults } from '../../definitions/policies/data-integrity';
import { systemDownDefaults } from '../../definitions/policies/system-down';

const key = randomBytes(32);

test('short codes are 10 characters (2^49.5), long ones 30 (over 128 bits), from the unambiguous alphabet', () => {
  expect(newCode('short')).toMatch(/^[A-HJKMNP-Z2-9]{5}-[A-HJKMNP-Z2-9]{5}$/);
  expect(normalizeCode(newCode('long'))).toHaveLength(30);
  expect(codeBits('short')).toBeCloseTo(49.5, 1);
  expect(codeBits('long')).toBeGreaterThan(128);
  expect(CODE_ALPHABET).not.toMatch(/[01ILO]/);
});

test('the MAC is keyed and bound to the workflow; case, spaces and dashes do not matter', () => {
  const mac = codeMac(key, 'wf-1', 'ABCDE-FGHJK');
  expect(codeMac(key, 'wf-1', 'abcde fghjk')).toBe(mac);
  expect(codeMac(key, 'wf-2', 'ABCDE-FGHJK')).not.toBe(mac);
  expect(codeMac(randomBytes(32), 'wf-1', 'ABCDE-FGHJK')).not.toBe(mac);
  expect(() => codeMac(undefined, 'wf-1', 'ABCDE-FGHJK')).toThrow(/APPROVAL_CODE_KEY/);
  expect(() => codeMac(Buffer.alloc(16), 'wf-1', 'ABCDE-FGHJK')).toThrow(/at least 32 bytes/);
});

test('matching names the issued code a submission is, and nothing for anything else', () => {
  const codes = [newCode('short'), newCode('long'), newCode('short')];
  const candidates = codes.map((c, i) => ({ codeId: `g/1/p${i}`, mac: codeMac(key, 'wf', c) }));
  expect(
    matchCodes(key, { workflowId: 'wf', codes: [codes[1], codes[0].toLowerCase()], candidates }),
  ).toEqual(['g/1/p1', 'g/1/p0']);
  expect(matchCodes(key, { workflowId: 'other', codes: [codes[0]], candidates })).toEqual([null]);
  fc.assert(
    fc.property(fc.anything(), (x) => {
      const [m] = matchCodes(key, { workflowId: 'wf', codes: [x], candidates });
      return m === null || codes.map(normalizeCode).includes(normalizeCode(String(x)));
    }),
  );
});

test('policy overrides may tighten a gate (more roles, shorter TTL) and never loosen it', () => {
  expect(loosenedFields(dataIntegrityDefaults, { approvalRoles: ['CEO', 'CTO'], codeTtlMs: 60_000 })).toEqual(
    [],
  );
  expect(loosenedFields(dataIntegrityDefaults, { approvalRoles: ['Legal'] })[0]).toMatch(
    /^approvalRoles must keep CEO \(may only add roles\)/,
  );
  expect(loosenedFields(dataIntegrityDefaults, { codeTtlMs: 24 * 3600_000 })[0]).toMatch(
    /^codeTtlMs may only be lowered/,
  );
  expect(loosenedFields(dataIntegrityDefaults, { maxWrongCodes: 1e9 })[0]).toMatch(
    /^maxWrongCodes may only be lowered/,
  );
  expect(loosenedFields(dataIntegrityDefaults, { abandonRoles: [] })[0]).toMatch(
    /^abandonRoles must keep CTO/,
  );
  expect(loosenedFields(systemDownDefaults, { escalateAfterMs: 7 * 24 * 3600_000 })[0]).toMatch(
    /^escalateAfterMs may only be lowered/,
  );
  expect(loosenedFields(systemDownDefaults, { giveUpAfterMs: 1 })[0]).toMatch(
    /^giveUpAfterMs may only be raised/,
  );
  expect(loosenedFields(systemDownDefaults, { escalateAfterMs: 'soon' as unknown as number })[0]).toMatch(
    /must be a positive number/,
  );
  expect(() => withDefaults(dataIntegrityDefaults, { approvalRoles: ['Legal'] })).toThrow(
    /policy override refused \(a trigger may tighten a gate, never loosen it\)/,
  );
  expect(withDefaults(systemDownDefaults, { escalateAfterMs: 1000 }).escalateAfterMs).toBe(1000);
  // The refund caps are the worker's configuration only: named in an override, refused whatever the value.
  for (const field of [
    'refundCaps',
    'refundCapPerCharge',
    'refundCapPerIncident',
    'refundCapCountPerIncident',
    'maxRefundAmount',
    'refund_limit',
  ]) {
    expect(loosenedFields(billingErrorDefaults, { [field]: 1 })[0]).toMatch(
      new RegExp(
        `^${field} cannot be set by a trigger: the refund caps are the worker's configuration \\(REFUND_CAP_`,
      ),
    );
  }
  expect(loosenedFields(billingErrorDefaults, { approvalRoles: ['CEO', 'CTO'] })).toEqual([]);
});

test('the approver directory: roles -> people, merged by id, every problem named', () => {
  const ok = parseApprovers(
    JSON.stringify({
      CEO: [{ id: 'alice', name: 'Alice', email: 'alice@x.test' }],
      CTO: [{ id: 'bob', name: 'Bob', webhookUrl: 'https://hooks.test/bob' }],
      Legal: [{ id: 'alice', name: 'Alice', email: 'alice@x.test' }],
    }),
    undefined,
  );
  expect(ok.problems).toEqual([]);
  expect(ok.directory.approvers.find((a) => a.id === 'alice')?.roles).toEqual(['CEO', 'Legal']);
  const bad = parseApprovers(JSON.stringify({ CEO: [{ id: 'Alice!', name: '' }], CTO: [] }), undefined);
  expect(bad.problems).toEqual(
    expect.arrayContaining([
      expect.stringMatching(/^APPROVERS_JSON CEO\.0\.id must be a lower-case id/),
      expect.stringMatching(/^APPROVERS_JSON CEO\.0 needs an email or a webhookUrl/),
      'APPROVERS_JSON CTO lists nobody',
    ]),
  );
  expect(parseApprovers('{', undefined).problems).toEqual(['APPROVERS_JSON is not valid JSON']);
  expect(parseApprovers(undefined, '/nonexistent/approvers.json').problems).toEqual([
    'APPROVERS_FILE cannot be read (ENOENT)',
  ]);
});
