/**
 * The post-incident duties (client/follow-up.ts): `runbooks file-report`, `file-post-mortem` and
 * `runbook-update` record a duty on the incident's follow-up workflow and show its answer.
 */
import {
  fileFollowUpDuty,
  FollowUpLookupError,
  resolveFollowUpId,
  type FollowUpAction,
  type FollowUpAnswer,
} from '../follow-up';
import { CliError, withClient, type Cli } from './common';

/** Records the duty on the follow-up `ref` names; the follow-up's refusal exits 3. */
async function sendDuty(print: Cli['print'], ref: string, action: FollowUpAction, what: string) {
  await withClient(async (client) => {
    let id: string;
    try {
      id = await resolveFollowUpId(client, ref);
    } catch (err) {
      if (err instanceof FollowUpLookupError) throw new CliError(err.message);
      throw err;
    }
    let answer: FollowUpAnswer;
    try {
      answer = await fileFollowUpDuty(client, id, action);
    } catch (err) {
      throw new CliError(`${what} not confirmed: ${(err as Error).message}. Check with: runbooks list`);
    }
    const open = Object.values(answer.state.duties)
      .filter((d) => d.status === 'open')
      .map((d) => d.duty);
    const data = {
      followUpWorkflowId: id,
      duty: answer.duty,
      accepted: answer.accepted,
      reason: answer.reason,
      followUpStatus: answer.state.status,
      duties: answer.state.duties,
      openDuties: open,
    };
    if (!answer.accepted) {
      throw new CliError(`Refused by the follow-up ${id}: ${answer.reason}`, 3, data);
    }
    const d = answer.state.duties[answer.duty];
    const next =
      answer.duty === 'runbook-update' && d.status === 'open'
        ? `The runbook update stays open until the change is linked (due ${d.dueAt}): runbooks runbook-update ${id} --needed yes --note "..." --link <PR>`
        : open.length
          ? `Still open: ${open.join(', ')}. See: runbooks list`
          : 'Every duty is done; the follow-up closes.';
    print(`Recorded: ${what} for ${id}.\n${next}`, data);
  });
}

export function followUpCommands({ program, print }: Cli): void {
  for (const [name, duty, what] of [
    ['file-report', 'incident-report', 'incident report'],
    ['file-post-mortem', 'post-mortem', 'post-mortem'],
  ] as const) {
    program
      .command(name)
      .description(
        `record that the ${what} is filed (a post-incident duty; closes its reminders and escalation)`,
      )
      .argument('<incident>', 'the follow-up workflow ID, the incident ID, or the incident workflow ID')
      .requiredOption('--link <url>', `where the ${what} is`)
      .requiredOption('--author <name>', `who wrote the ${what}`)
      .option('--note <text>', 'anything worth recording')
      .action(async (ref: string, o: { link: string; author: string; note?: string }) => {
        if (!/^https?:\/\/\S+$/.test(o.link)) {
          throw new CliError(`--link "${o.link}" is not a URL (http:// or https://)`, 2);
        }
        if (!o.author.trim()) throw new CliError('--author must name who wrote it', 2);
        await sendDuty(
          print,
          ref,
          { duty, filed: { link: o.link, author: o.author, note: o.note } },
          `${what} filed`,
        );
      });
  }

  program
    .command('runbook-update')
    .description(
      'record whether the runbook needs an update (a post-incident duty); "yes" stays open until --link',
    )
    .argument('<incident>', 'the follow-up workflow ID, the incident ID, or the incident workflow ID')
    .requiredOption('--needed <yes|no>', 'does the runbook need a change?')
    .requiredOption('--note <text>', 'why, or what should change')
    .option('--link <url>', 'the change to the runbook (PR or commit), once it exists')
    .option('--by <name>', 'who decided', process.env.USER ?? 'operator')
    .action(async (ref: string, o: { needed: string; note: string; link?: string; by: string }) => {
      const needed = { yes: true, no: false, true: true, false: false }[o.needed.toLowerCase()];
      if (needed === undefined) throw new CliError(`--needed "${o.needed}" must be yes or no`, 2);
      if (!o.note.trim()) throw new CliError('--note must say why (or what should change)', 2);
      if (o.link && !/^https?:\/\/\S+$/.test(o.link)) {
        throw new CliError(`--link "${o.link}" is not a URL (http:// or https://)`, 2);
      }
      await sendDuty(
        print,
        ref,
        { duty: 'runbook-update', decision: { needed, note: o.note, by: o.by, link: o.link } },
        `runbook update decision (${needed ? 'needed' : 'not needed'})`,
      );
    });
}
