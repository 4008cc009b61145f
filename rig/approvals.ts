/**
 * What the P0-3/P0-4 tests share: a real SMTP server in-process (smtp-server) as everyone's
 * mailbox, real HTTP receivers for the approvers' personal webhooks and the team webhook, and an
 * approver directory (CEO, CTO, Legal) pointing at them. Codes are read the way a person reads
 * them: from what arrived on their channel.
 */
import type { AddressInfo } from 'node:net';
import nodemailer, { type Transporter } from 'nodemailer';
import { SMTPServer } from 'smtp-server';
import type { WorkflowHandle } from '@temporalio/client';
import type { ApproverDirectory } from '../definitions/approval';
import { stateQuery } from '../definitions/messages';
import { startReceiver, type Receiver } from './receivers';
import { waitUntil } from './sandbox';

export interface Mail {
  to: string[];
  subject: string;
  text: string;
}

export interface Mailbox {
  mails: Mail[];
  port: number;
  transport(): Transporter;
  waitFor(pred: (m: Mail) => boolean, timeoutMs?: number): Promise<Mail>;
  close(): Promise<void>;
}

/** Quoted-printable soft breaks and escapes, enough to read a plain-text body. */
function decodeBody(raw: string): { subject: string; text: string } {
  const [head, ...rest] = raw.split(/\r?\n\r?\n/);
  let body = rest.join('\n\n');
  if (/content-transfer-encoding:\s*quoted-printable/i.test(head)) {
    body = body
      .replace(/=\r?\n/g, '')
      .replace(/=([0-9A-F]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16)));
    body = Buffer.from(body, 'latin1').toString('utf8');
  }
  const unfolded = head.replace(/\r?\n[ \t]+/g, ' ');
  const subject = /^subject:\s*(.*)$/im.exec(unfolded)?.[1] ?? '';
  return { subject, text: body };
}

export async function startMailbox(): Promise<Mailbox> {
  const mails: Mail[] = [];
  const smtp = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onData(stream, session, cb) {
      let data = '';
      stream.on('data', (c: Buffer) => (data += c.toString('latin1')));
      stream.on('end', () => {
        mails.push({ to: session.envelope.rcptTo.map((r) => r.address), ...decodeBody(data) });
        cb();
      });
    },
  });
  await new Promise<void>((r) => smtp.listen(0, '127.0.0.1', r));
  const port = (smtp.server.address() as AddressInfo).port;
  return {
    mails,
    port,
    transport: () => nodemailer.createTransport({ host: '127.0.0.1', port, secure: false, ignoreTLS: true }),
    async waitFor(pred, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const m = mails.find(pred);
        if (m) return m;
        if (Date.now() > deadline)
          throw new Error(`no matching mail within ${timeoutMs} ms (got ${mails.length})`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    close: () => new Promise<void>((r) => smtp.close(() => r())),
  };
}

export interface ApprovalWorld {
  mailbox: Mailbox;
  /** Personal webhooks: path /<approver id>. */
  personal: Receiver;
  /** The team's Slack-style webhook. */
  team: Receiver;
  directory: ApproverDirectory;
  /** The latest code an approver received (from their webhook; the same code went by email). */
  latestCode(approver: string, gate?: string): string | undefined;
  waitForCode(approver: string, after?: number, timeoutMs?: number): Promise<string>;
  close(): Promise<void>;
}

export async function startApprovalWorld(): Promise<ApprovalWorld> {
  const [mailbox, personal, team] = await Promise.all([startMailbox(), startReceiver(), startReceiver()]);
  const directory: ApproverDirectory = {
    approvers: [
      {
        id: 'ceo',
        name: 'Casey (CEO)',
        roles: ['CEO'],
        email: 'ceo@accubooks.test',
        webhookUrl: `${personal.url}/ceo`,
      },
      {
        id: 'cto',
        name: 'Chris (CTO)',
        roles: ['CTO'],
        email: 'cto@accubooks.test',
        webhookUrl: `${personal.url}/cto`,
      },
      { id: 'legal', name: 'Lee (Legal)', roles: ['Legal'], email: 'legal@accubooks.test' },
    ],
  };
  const codes = (approver: string) =>
    personal.requests
      .filter((r) => r.path === `/${approver}`)
      .map((r) => r.body as { code: string; gate: string });
  const world: ApprovalWorld = {
    mailbox,
    personal,
    team,
    directory,
    latestCode: (approver, gate) =>
      codes(approver)
        .filter((c) => !gate || c.gate === gate)
        .at(-1)?.code,
    async waitForCode(approver, after = 0, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const list = codes(approver);
        if (list.length > after) return list[list.length - 1].code;
        if (Date.now() > deadline) throw new Error(`no code for ${approver} within ${timeoutMs} ms`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    close: async () => {
      await Promise.all([mailbox.close(), personal.close(), team.close()]);
    },
  };
  return world;
}

export const codeCount = (world: ApprovalWorld, approver: string) =>
  world.personal.requests.filter((r) => r.path === `/${approver}`).length;

/**
 * An approver's newest code for one gate of one workflow (as it reached their personal webhook),
 * once the workflow has recorded it too: a code sent back before the workflow records it would be
 * checked in the same workflow task that records it. `not`: a code already used, to wait past.
 */
export async function recordedCode(
  world: ApprovalWorld,
  handle: WorkflowHandle,
  approver: string,
  gate: string,
  not?: string,
): Promise<string> {
  let code: string | undefined;
  let sent = 0;
  await waitUntil(`a ${approver} code for ${gate}`, () => {
    const codes = world.personal.requests
      .filter((r) => r.path === `/${approver}`)
      .map((r) => r.body as { code: string; gate: string; workflowId: string })
      .filter((b) => b.gate === gate && b.workflowId === handle.workflowId);
    code = codes.at(-1)?.code;
    sent = codes.length;
    return Promise.resolve(!!code && code !== not);
  });
  await waitUntil(`the workflow to record the ${approver} code for ${gate}`, async () => {
    const rec = (await handle.query(stateQuery)).approvals?.find((g) => g.gate === gate);
    return (rec?.codes.filter((c) => c.approver === approver).length ?? 0) >= sent;
  });
  return code!;
}
