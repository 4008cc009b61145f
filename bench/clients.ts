/**
 * The benchmark workers' activity dependencies over the stack (in-process for the time-skipping
 * runs, and in bench/worker-process.ts): pages and approval codes go to the bench's receivers;
 * targets are made-up names, so checks fail fast and nothing real is touched.
 */
import type { WorkerClients } from '../worker/clients';
import { testClients } from '../rig/deps';

export function benchClients(pagerDutyUrl: string, slackUrl: string): WorkerClients {
  const person = (role: string) => [
    { id: role.toLowerCase(), name: `Bench ${role}`, webhookUrl: `${slackUrl}/approver/${role}` },
  ];
  return testClients(
    {
      health: { apiUrls: {} },
      notify: {
        pagerDutyEventsUrl: `${pagerDutyUrl}/v2/enqueue`,
        pagerDutyRoutingKey: 'bench-routing-key',
        slackWebhookUrl: `${slackUrl}/hooks/oncall`,
      },
    },
    { APPROVERS_JSON: JSON.stringify({ CEO: person('CEO'), CTO: person('CTO'), Legal: person('Legal') }) },
  );
}
