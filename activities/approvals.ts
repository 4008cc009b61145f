/**
 * One-time approval codes and role notifications, from the approver directory in config.
 *
 * `issueApprovalCodes` makes a fresh random code per eligible approver, sends it over that
 * person's own channel(s) only (their email over SMTP, their personal webhook), and returns only
 * the code's keyed MAC (approval-codes.ts) and the expiry. The code itself never leaves this
 * function: not in the result, not in a log line, not in an error. `verifyApprovalCodes` (run as a
 * local activity, so the submitted code never enters history) tells the workflow which issued code,
 * if any, a submission carried.
 */
import { log } from '@temporalio/activity';
import type { Transporter } from 'nodemailer';
import type { Approver, ApproverDirectory } from '../definitions/approval';
import { codeMac, matchCodes, newCode, type VerifyCodesInput } from './approval-codes';
import { type CodeStrength } from '../definitions/approval';
import { approvalLink, type LinkSettings } from './approval-links';
import { describeError, FailureType, nonRetryable } from '../definitions/errors';
import { createNotificationActivities, type Delivery, type NotifyDeps } from './notify';

export interface ApprovalDeps {
  directory: ApproverDirectory;
  /** APPROVAL_CODE_KEY: the MAC key only the worker holds. */
  codeKey?: Buffer;
  notify: NotifyDeps;
  /** APPROVAL_PAGE_URL + APPROVAL_LINK_KEY: each message also carries a link to the approval page. */
  links?: LinkSettings;
  fetch?: typeof fetch;
  timeoutMs?: number;
}

export interface IssueCodesInput {
  incidentId: string;
  workflowId: string;
  runbook: string;
  /** The gate the code is good for, e.g. "resume-billing". */
  gateId: string;
  /** What the person approves, one line: "Resume billing after the P0-3 freeze". */
  what: string;
  /** Roles that may answer; codes go to every person holding one of them. */
  roles: string[];
  /** Only these approver ids (re-issue after a rejection or a revoked code); default everyone eligible. */
  only?: string[];
  /** Workflow time at which the codes stop being valid (the workflow checks it, not this clock). */
  expiresAt: string;
  /** The signal name and the CLI command the message explains. */
  signalName: string;
  round: number;
  /** Short codes to type, or long ones once the gate's wrong-code cap was reached. */
  strength: CodeStrength;
  /** Extra lines for the message (what happened, evidence, refunds...). */
  context?: string;
  /** A dry run's approval (workflows/dry-run.ts): real codes, every message marked as a rehearsal. */
  rehearsal?: boolean;
}

/** What every message of a dry run starts with: nobody may take it for a real incident. */
export const REHEARSAL_MARK = '[REHEARSAL: dry run, nothing will be done]';
const marked = (rehearsal: boolean | undefined, subject: string) =>
  rehearsal ? `${REHEARSAL_MARK} ${subject}` : subject;

export interface IssuedCode {
  approver: string;
  name: string;
  roles: string[];
  /** The code's ID in the workflow: `<gate>/<round>/<approver>`. */
  codeId: string;
  /** HMAC-SHA256 under the worker's key: nothing a reader of history can test a guess against. */
  mac: string;
  /**
   * The MAC of the link's long code (approval-links.ts), when links are on: the same code ID, so the
   * typed code and the link are one credential (either one used spends both; both expire together).
   */
  linkMac?: string;
  strength: CodeStrength;
  expiresAt: string;
  delivered: string[];
  failed: { channel: string; error: string }[];
}

export const approvalCodeId = (gateId: string, round: number, approver: string) =>
  `${gateId}/${round}/${approver}`;

export const eligibleApprovers = (d: ApproverDirectory, roles: string[]): Approver[] =>
  d.approvers.filter((a) => a.roles.some((r) => roles.includes(r)));

async function postJson(doFetch: typeof fetch, url: string, body: unknown, timeoutMs: number): Promise<void> {
  const res = await doFetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(timeoutMs),
  });
  await res.arrayBuffer();
  if (!res.ok) throw new Error(`HTTP ${res.status} from the approver's webhook`);
}

type Channel = [string, () => Promise<void>];

/** What every approver's message is built from. */
interface Issuing {
  deps: ApprovalDeps;
  doFetch: typeof fetch;
  timeoutMs: number;
  mailer?: Transporter;
  input: IssueCodesInput;
}

/** The person's one-time code, its link, and their MACs: the secrets never leave this activity. */
function newCredential(deps: ApprovalDeps, input: IssueCodesInput, person: Approver) {
  const code = newCode(input.strength);
  // Fails (non-retryable) before anything is sent when the worker has no key.
  const mac = codeMac(deps.codeKey, input.workflowId, code);
  // The link's deciding secret: a long code (2^148), never stored, only its MAC returned.
  const linkCode = deps.links ? newCode('long') : undefined;
  const linkMac = linkCode ? codeMac(deps.codeKey, input.workflowId, linkCode) : undefined;
  const link =
    deps.links && linkCode
      ? approvalLink(
          deps.links,
          { workflowId: input.workflowId, gate: input.gateId, approver: person.id, round: input.round },
          linkCode,
        )
      : undefined;
  return { code, mac, linkCode, linkMac, link };
}

/** The message the approver reads: what is asked, the code, and every way to answer. */
function approvalMessage(input: IssueCodesInput, person: Approver, code: string, link?: string): string {
  const example = JSON.stringify({
    approver: person.id,
    decision: 'approve',
    reason: '<why>',
    code,
  });
  return [
    ...(input.rehearsal
      ? [`${REHEARSAL_MARK} This approval is part of a rehearsal: approving it changes nothing.`]
      : []),
    `${person.name}: your approval is requested as ${person.roles.filter((r) => input.roles.includes(r)).join('/')}.`,
    `Incident ${input.incidentId} (${input.runbook}): ${input.what}.`,
    input.context ?? '',
    '',
    `Your one-time code: ${code}  (valid until ${input.expiresAt}; only for you, only for this request)`,
    '',
    ...(link
      ? [
          'From your phone: open this link, read the evidence, then Approve or Reject with a reason',
          '(opening it decides nothing; it works once and expires with the code):',
          link,
          '',
        ]
      : []),
    `Temporal UI: workflow ${input.workflowId} → Send a Signal "${input.signalName}" with:`,
    example,
    '(decision "reject" keeps the system stopped; a reason is required either way.)',
    `CLI: runbooks approve ${input.workflowId} --by ${person.id} --code <code> --reason "<why>"`,
    '',
    'Never forward this code. If you did not expect it, reply to the incident channel at once.',
  ].join('\n');
}

/** The person's own channels: their email (when SMTP is configured) and their personal webhook. */
function personalChannels(
  i: Issuing,
  person: Approver,
  text: string,
  code: string,
  link?: string,
): Channel[] {
  const { deps, input, mailer } = i;
  const channels: Channel[] = [];
  if (person.email && mailer) {
    const to = person.email;
    channels.push([
      'email',
      async () => {
        await mailer.sendMail({
          from: deps.notify.mailFrom,
          to,
          subject: marked(input.rehearsal, `[${input.runbook}] Approval code: ${input.what}`),
          text,
          messageId: `<${input.incidentId}.${input.gateId}.${input.round}.${person.id}@accubooks-runbooks>`,
        });
      },
    ]);
  }
  if (person.webhookUrl) {
    const url = person.webhookUrl;
    const body = {
      text,
      incidentId: input.incidentId,
      workflowId: input.workflowId,
      gate: input.gateId,
      approver: person.id,
      code,
      ...(link ? { link } : {}),
      ...(input.rehearsal ? { rehearsal: true } : {}),
      expiresAt: input.expiresAt,
    };
    channels.push(['webhook', () => postJson(i.doFetch, url, body, i.timeoutMs)]);
  }
  return channels;
}

/** Sends over every channel; which delivered and which failed, with the secrets masked in errors. */
async function deliver(
  channels: Channel[],
  secrets: (string | undefined)[],
): Promise<Pick<IssuedCode, 'delivered' | 'failed'>> {
  const results = await Promise.allSettled(channels.map(([, send]) => send()));
  const delivered: string[] = [];
  const failed: { channel: string; error: string }[] = [];
  results.forEach((r, i) => {
    if (r.status === 'fulfilled') delivered.push(channels[i][0]);
    // describeError masks secrets; the code is never part of a transport error message.
    else
      failed.push({
        channel: channels[i][0],
        error: secrets
          .filter((x): x is string => !!x)
          .reduce((e, secret) => e.split(secret).join('***'), describeError(r.reason)),
      });
  });
  if (channels.length === 0)
    failed.push({ channel: 'none', error: 'no usable channel (no SMTP configured?)' });
  return { delivered, failed };
}

/** One approver: a fresh code sent over their own channels; only its MAC is returned. */
async function issueOne(i: Issuing, person: Approver): Promise<IssuedCode> {
  const { input } = i;
  const { code, mac, linkCode, linkMac, link } = newCredential(i.deps, input, person);
  const text = approvalMessage(input, person, code, link);
  const { delivered, failed } = await deliver(personalChannels(i, person, text, code, link), [
    code,
    linkCode,
    link,
  ]);
  log.info('approval code sent', {
    gate: input.gateId,
    approver: person.id,
    delivered,
    failed: failed.length,
  });
  return {
    approver: person.id,
    name: person.name,
    roles: person.roles,
    codeId: approvalCodeId(input.gateId, input.round, person.id),
    mac,
    ...(linkMac ? { linkMac } : {}),
    strength: input.strength,
    expiresAt: input.expiresAt,
    delivered,
    failed,
  };
}

/** The approval codes: sent to the approvers, and matched against what they submit. */
const createApprovalCodeActivities = (deps: ApprovalDeps) => {
  const doFetch = deps.fetch ?? fetch;
  const timeoutMs = deps.timeoutMs ?? 10_000;
  const mailer: Transporter | undefined = deps.notify.mailer;

  return {
    /** Local activity: which issued code (by ID) each submitted code is, or null. Never logs a code. */
    verifyApprovalCodes(input: VerifyCodesInput): Promise<{ matches: (string | null)[] }> {
      return Promise.resolve({ matches: matchCodes(deps.codeKey, input) });
    },

    /** Sends each eligible approver a one-time code over their own channel; returns keyed MACs only. */
    async issueApprovalCodes(
      input: IssueCodesInput,
    ): Promise<{ issued: IssuedCode[]; missingRoles: string[] }> {
      const people = eligibleApprovers(deps.directory, input.roles).filter(
        (p) => !input.only || input.only.includes(p.id),
      );
      const missingRoles = input.roles.filter(
        (r) => !deps.directory.approvers.some((a) => a.roles.includes(r)),
      );
      if (people.length === 0) {
        throw nonRetryable(
          FailureType.InvalidInput,
          `No approver in the directory holds ${input.roles.join(' or ')} (set APPROVERS_JSON or APPROVERS_FILE)`,
        );
      }
      const issuing: Issuing = { deps, doFetch, timeoutMs, mailer, input };
      const issued: IssuedCode[] = [];
      for (const person of people) issued.push(await issueOne(issuing, person));
      return { issued, missingRoles };
    },
  };
};

/** Mail to the people holding a role (never a code). */
const createRoleNotificationActivities = (deps: ApprovalDeps) => {
  const notifications = createNotificationActivities(deps.notify);
  return {
    /** Email to everyone holding one of the roles, with a copy to the team webhook (never a code). */
    async notifyRoles(input: {
      roles: string[];
      subject: string;
      text: string;
      messageId: string;
      /** A dry run's message (approval reminders, refusals): marked as a rehearsal. */
      rehearsal?: boolean;
    }): Promise<Delivery & { recipients: string[] }> {
      const people = eligibleApprovers(deps.directory, input.roles);
      const to = [...new Set(people.map((p) => p.email).filter((e): e is string => !!e))];
      const delivery = await notifications.sendEmail({
        to,
        subject: marked(input.rehearsal, input.subject),
        text: input.rehearsal ? `${REHEARSAL_MARK}\n${input.text}` : input.text,
        messageId: input.messageId,
      });
      return { ...delivery, recipients: people.map((p) => `${p.id} (${p.roles.join('/')})`) };
    },
  };
};

export const createApprovalActivities = (deps: ApprovalDeps) => ({
  ...createApprovalCodeActivities(deps),
  ...createRoleNotificationActivities(deps),
});
