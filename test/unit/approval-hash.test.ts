/** The workflow-side SHA-256 (approval codes are compared inside the workflow) against node:crypto. */
import { createHash, randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { approvalCodeHash, sha256Hex } from '../../workflows/sha256';
import { parseApprovers } from '../../config/approvers';

const ref = (s: string | Buffer) => createHash('sha256').update(s).digest('hex');

test('sha256Hex matches node:crypto on the standard vectors and block boundaries', () => {
  expect(sha256Hex('')).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  expect(sha256Hex('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  for (const n of [55, 56, 63, 64, 65, 119, 120, 1000]) {
    const b = randomBytes(n);
    expect(sha256Hex(new Uint8Array(b))).toBe(ref(b));
  }
});

test('sha256Hex matches node:crypto on any text (UTF-8, astral characters included)', () => {
  fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 300 }), (s) => sha256Hex(s) === ref(s)));
});

test('a code hash is bound to salt, gate and approver, and ignores case, spaces and dashes', () => {
  const h = approvalCodeHash('salt', 'resume-billing', 'ceo', 'ABCDE-FGHJK');
  expect(approvalCodeHash('salt', 'resume-billing', 'ceo', 'abcde fghjk')).toBe(h);
  expect(approvalCodeHash('salt2', 'resume-billing', 'ceo', 'ABCDE-FGHJK')).not.toBe(h);
  expect(approvalCodeHash('salt', 'other-gate', 'ceo', 'ABCDE-FGHJK')).not.toBe(h);
  expect(approvalCodeHash('salt', 'resume-billing', 'cto', 'ABCDE-FGHJK')).not.toBe(h);
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
