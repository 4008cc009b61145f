/** `runbooks status`: an incident's current state, from the workflow's `state` query. */
import type { IncidentState } from '../../definitions/types';
import { incidentState } from '../incidents';
import { notFound, withClient, type Cli } from './common';

export function formatState(s: IncidentState): string {
  const lines = [
    `${s.title}  [${s.status}]`,
    `incident ${s.incidentId}  severity ${s.severity}  target ${s.target}`,
    `current step: ${s.currentStep}`,
    `detected ${s.mttr.detectedAt}; MTTR target ${Math.round(s.mttr.targetMs / 60_000)} min${s.mttr.breached ? ' (BREACHED)' : ''}` +
      (s.mttr.timeToResolveMs !== undefined
        ? `; resolved in ${Math.round(s.mttr.timeToResolveMs / 1000)} s`
        : ''),
    `trigger: ${s.trigger.source}${s.trigger.alertName ? ` ${s.trigger.alertName}` : ''}${s.trigger.startedBy ? ` by ${s.trigger.startedBy}` : ''}${s.trigger.description ? ` — ${s.trigger.description}` : ''}`,
    `alerts: ${s.alerts.firing} firing, ${s.alerts.resolved} resolved; last ${s.alerts.lastStatus ?? '?'} at ${s.alerts.lastAt ?? '?'}` +
      (s.alerts.latestValues ? `; latest values ${JSON.stringify(s.alerts.latestValues)}` : ''),
    '',
    'steps:',
    ...s.steps.map(
      (st) =>
        `  ${st.status.padEnd(7)} ${st.title}${st.result ? ` — ${st.result}` : ''}${st.error ? ` — ERROR ${st.error}` : ''}`,
    ),
  ];
  if (s.escalations.length) {
    lines.push(
      '',
      'escalations:',
      ...s.escalations.map(
        (e) => `  ${e.at} ${e.tier}: ${e.reason} (delivered: ${e.delivered.join(', ') || 'none'})`,
      ),
    );
  }
  if (Object.keys(s.failing).length) {
    lines.push('', 'failing checks:', ...Object.entries(s.failing).map(([k, v]) => `  ${k}: ${v}`));
  }
  if (s.decisions.length) {
    lines.push('', 'decisions (latest 5):', ...s.decisions.slice(-5).map((d) => `  ${d}`));
  }
  if (s.waitingFor) {
    lines.push(
      '',
      `WAITING FOR A PERSON since ${s.waitingFor.since}: ${s.waitingFor.what}`,
      `  send signal "${s.waitingFor.signal}" ${JSON.stringify(s.waitingFor.example)}`,
      `  or: runbooks approve|reject <workflowId> --code <code> --reason <why>`,
    );
  }
  if (s.outcome) lines.push('', `outcome: ${s.outcome}`);
  return lines.join('\n');
}

export function statusCommand({ program, print }: Cli): void {
  program
    .command('status')
    .description("an incident's current state, human-readable (the workflow's `state` query)")
    .argument('<workflowId>', 'the incident workflow ID (see `runbooks list`)')
    .action(async (workflowId: string) => {
      await withClient(async (client) => {
        const state = await incidentState(client.workflow.getHandle(workflowId)).catch(notFound(workflowId));
        print(formatState(state), state);
      });
    });
}
