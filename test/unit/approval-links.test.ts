/**
 * Approval links (activities/approval-links.ts, activities/approvals.ts): what a link carries, what
 * the workflow gets back (only MACs), and the settings (both variables or neither).
 */
import { randomBytes } from 'node:crypto';
import { codeMac, matchCodes, normalizeCode } from '../../activities/approval-codes';
import { approvalLink, viewSignature, viewSignatureValid } from '../../activities/approval-links';
import { createApprovalActivities } from '../../activities/approvals';
import { ConfigError } from '../../config/errors';
import { loadApprovalLinks } from '../../config/approval-links';
import { loadApprovalPageConfig } from '../../config/approval-page';
import { createFormTokens } from '../../client/approval-page/form-tokens';
import { runActivity } from '../../rig/activity';
import { startReceiver, type Receiver } from '../../rig/receivers';

const codeKey = randomBytes(32);
const linkKey = randomBytes(32);
const target = { workflowId: 'incident-P0-3-api', gate: 'resume-billing', approver: 'ceo', round: 1 };
let hook: Receiver;

beforeAll(async () => {
  hook = await startReceiver();
});
afterAll(() => hook.close());

test('the view signature binds workflow, gate, approver and round, under the link key only', () => {
  const sig = viewSignature(linkKey, target);
  expect(Buffer.from(sig, 'base64url')).toHaveLength(16);
  expect(viewSignatureValid(linkKey, target, sig)).toBe(true);
  for (const other of [
    { ...target, approver: 'cto' },
    { ...target, gate: 'abandon' },
    { ...target, round: 2 },
    { ...target, workflowId: 'incident-P0-4-api' },
  ])
    expect(viewSignatureValid(linkKey, other, sig)).toBe(false);
  expect(viewSignatureValid(randomBytes(32), target, sig)).toBe(false);
  expect(viewSignatureValid(linkKey, target, '')).toBe(false);
});

test('each message carries a link whose code is long (2^148) and matches under the typed code’s ID; the result holds MACs only', async () => {
  const activities = createApprovalActivities({
    directory: { approvers: [{ id: 'ceo', name: 'Casey', roles: ['CEO'], webhookUrl: `${hook.url}/ceo` }] },
    codeKey,
    links: { pageUrl: 'https://approve.accubooks.test/', key: linkKey },
    notify: {},
  });
  const { issued } = await runActivity(activities.issueApprovalCodes, {
    incidentId: 'P0-3-x',
    workflowId: target.workflowId,
    runbook: 'P0-3',
    gateId: target.gate,
    what: 'Resume billing',
    roles: ['CEO'],
    expiresAt: new Date(Date.now() + 60_000).toISOString(),
    signalName: 'approval',
    round: 1,
    strength: 'short',
  });
  const sent = hook.requests.at(-1)!.body as { code: string; link: string; text: string };
  expect(sent.text).toContain(sent.link);
  const url = new URL(sent.link);
  expect(url.origin + url.pathname).toBe(
    'https://approve.accubooks.test/a/incident-P0-3-api/resume-billing/ceo/1',
  );
  const k = url.searchParams.get('k')!;
  expect(normalizeCode(k)).toHaveLength(30);
  expect(viewSignatureValid(linkKey, target, url.searchParams.get('v')!)).toBe(true);
  expect(sent.link).toBe(
    approvalLink({ pageUrl: 'https://approve.accubooks.test', key: linkKey }, target, k),
  );
  // What goes back to the workflow (history): no code, no link, no view signature; two MACs.
  const result = JSON.stringify(issued);
  for (const secret of [sent.code, normalizeCode(sent.code), k, normalizeCode(k), url.searchParams.get('v')!])
    expect(result).not.toContain(secret);
  expect(issued[0].linkMac).toBe(codeMac(codeKey, target.workflowId, k));
  // Either secret is the same credential: the typed code and the link's code match the same ID.
  const candidates = [
    { codeId: issued[0].codeId, mac: issued[0].mac },
    { codeId: issued[0].codeId, mac: issued[0].linkMac! },
  ];
  expect(
    matchCodes(codeKey, { workflowId: target.workflowId, codes: [sent.code, k, 'ABCDE-FGHJK'], candidates }),
  ).toEqual([issued[0].codeId, issued[0].codeId, null]);
});

test('form tokens: once, for their own link only', () => {
  const tokens = createFormTokens();
  const t = tokens.issue('link-a');
  expect(tokens.consume(t, 'link-b')).toBe('other-link');
  expect(tokens.consume(t, 'link-a')).toBe('ok');
  expect(tokens.consume(t, 'link-a')).toBe('used');
  expect(tokens.consume('made-up', 'link-a')).toBe('unknown');
});

test('link settings: both variables or neither, each named when wrong', () => {
  expect(loadApprovalLinks({})).toBeUndefined();
  const key = 'k'.repeat(32);
  expect(loadApprovalLinks({ APPROVAL_PAGE_URL: 'https://approve.example', APPROVAL_LINK_KEY: key })).toEqual(
    {
      pageUrl: 'https://approve.example',
      key: Buffer.from(key),
    },
  );
  expect(() => loadApprovalLinks({ APPROVAL_PAGE_URL: 'https://approve.example' })).toThrow(
    /APPROVAL_LINK_KEY is missing/,
  );
  expect(() => loadApprovalLinks({ APPROVAL_PAGE_URL: 'ftp://x', APPROVAL_LINK_KEY: key })).toThrow(
    /APPROVAL_PAGE_URL must use http or https/,
  );
  expect(() => loadApprovalLinks({ APPROVAL_PAGE_URL: 'https://x', APPROVAL_LINK_KEY: 'short' })).toThrow(
    /APPROVAL_LINK_KEY must be at least 32 characters/,
  );
  let err: unknown;
  try {
    loadApprovalPageConfig({ APPROVAL_PAGE_PORT: 'x' });
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(ConfigError);
  expect((err as ConfigError).problems).toEqual(
    expect.arrayContaining([
      expect.stringMatching(/^APPROVAL_PAGE_PORT /),
      expect.stringMatching(/^APPROVAL_PAGE_URL is missing/),
      expect.stringMatching(/^APPROVAL_LINK_KEY is missing/),
    ]),
  );
});
