/**
 * A runbook's message to the people holding a role (P0-3's "Notify CEO + CTO", P0-4's notice), as
 * one recorded check. In a dry run it is planned, not sent (dry-run.ts): only approval requests
 * reach people in a rehearsal, marked as one (approval.ts).
 */
import { notifications } from './activity-proxies';
import { Incident, withSummary } from './incident';

export interface RoleNotice {
  roles: string[];
  subject: string;
  text: string;
  messageId: string;
}

type Delivered = Awaited<ReturnType<typeof notifications.notifyRoles>>;

const delivered = (d: Delivered) => `delivered via ${d.delivered.join(', ')} to ${d.recipients.join(', ')}`;

export function notifyRolesStep(
  inc: Incident,
  step: { name: string; title: string; summary: string },
  notice: RoleNotice,
  describe: (d: Delivered) => string = delivered,
): Promise<Delivered | undefined> {
  if (inc.rehearsal) {
    inc.rehearsal.plan(inc.state, {
      kind: 'notify',
      action: step.summary,
      target: inc.state.target,
      inputs: { roles: notice.roles, subject: notice.subject },
    });
    inc.skip(
      step.name,
      step.title,
      `dry run: would notify ${notice.roles.join(' + ')} ("${notice.subject}")`,
    );
    inc.refresh();
    return Promise.resolve(undefined);
  }
  return inc.check(
    step.name,
    step.title,
    () => withSummary(notifications.notifyRoles, step.summary, notice),
    describe,
  );
}
