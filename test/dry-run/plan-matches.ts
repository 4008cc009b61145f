/**
 * The dry-run tests' shared step: on one fault, a dry run first (watched for side effects), then the
 * real run with the same input, to its end; the plan's actions must be the real run's, all of them,
 * in the same order (workflows/dry-run.ts: the plan follows the success path to where the real run
 * ends, assuming each check of a planned action's effect).
 */
import type { WorkflowHandle } from '@temporalio/client';
import type { StartIncidentOptions } from '../../client/incidents';
import { actionsOfHistory, plannedKinds, type DoneAction } from '../../common/report/plan';
import type { IncidentState } from '../../definitions/types';
import type { RunbookRig } from '../../rig/runbook-rig';
import { uniqueId } from '../../rig/env';
import { watchSideEffects, type World } from './side-effects';

export interface Rehearsed {
  plan: IncidentState;
  planned: DoneAction[];
  done: DoneAction[];
  changes: string[];
  real: WorkflowHandle;
  /** The real run's final state. */
  realEnd: IncidentState;
}

export async function dryRunThenReal(
  rig: RunbookRig,
  world: World,
  opts: Omit<StartIncidentOptions, 'client' | 'taskQueue'>,
  /** Runs the real incident to its end (giving its approvals). */
  realRun: (h: WorkflowHandle) => Promise<void>,
  /** Gives the dry run's approvals (real codes, sent to the real approvers), if it asks for any. */
  dryRun: (h: WorkflowHandle) => Promise<void> = () => Promise.resolve(),
): Promise<Rehearsed> {
  const watch = await watchSideEffects(world);
  const dry = await rig.start('dev', { ...opts, dryRun: true });
  await dryRun(dry);
  const plan = (await dry.result()) as IncidentState;
  const changes = await watch.changes();
  const real = await rig.start('dev', { ...opts, workflowId: uniqueId(`wf-${opts.runbook}-real`) });
  await realRun(real);
  const realEnd = (await real.result()) as IncidentState;
  const done = actionsOfHistory(await real.fetchHistory());
  // For the reader of the test log (and the closing note): the plan next to what the real run did.
  console.log(
    `${opts.runbook} dry-run plan:\n${plan.dryRun?.plan.map((a) => `  ${a.n}. would ${a.kind}: ${a.action} [${a.kind === 'verify' ? `assumed: ${String(a.inputs.assumed)}` : `guard: ${a.guard ? (a.guard.wouldGrant ? 'would grant' : 'would refuse') : 'none'}`}]`).join('\n')}\n  ends: ${plan.dryRun?.end}\n` +
      `${opts.runbook} real run:\n${done.map((a, i) => `  ${i + 1}. ${a.kind}: ${a.action}`).join('\n')}`,
  );
  return { plan, planned: plannedKinds(plan), done, changes, real, realEnd };
}

const sameAction = (a: DoneAction) => ({ kind: a.kind, action: a.action.replace(/\d+(\.\d+)?/g, '#') });

/** The assertions every runbook's dry run shares. */
export function expectPlanMatches(r: Rehearsed, realEnd: IncidentState['status'] = 'resolved'): void {
  expect(r.changes).toEqual([]);
  expect(r.plan.status).toBe('planned');
  expect(r.planned.length).toBeGreaterThan(0);
  // The whole real run: same actions, same order, none left out (a page's measured value may differ).
  expect(r.planned.map(sameAction)).toEqual(r.done.map(sameAction));
  // And it ends where the real run ended, saying so (the outcome's measured numbers may differ).
  expect(r.realEnd.status).toBe(realEnd);
  expect(r.plan.dryRun?.end).toMatch(new RegExp(`^the real run would end here, ${realEnd}: `));
  // Every check of a planned action's effect was assumed, not read: the plan says which.
  for (const v of r.plan.dryRun!.plan.filter((a) => a.kind === 'verify'))
    expect(v.inputs.assumed).toEqual(expect.any(String));
}
