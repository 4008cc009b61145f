/**
 * The dry-run tests' shared step: on one fault, a dry run first (watched for side effects), then the
 * real run with the same input; the plan's actions must be the real run's, in the same order, up to
 * where the plan ends (workflows/dry-run.ts: at the first action the guard would grant).
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
}

export async function dryRunThenReal(
  rig: RunbookRig,
  world: World,
  opts: Omit<StartIncidentOptions, 'client' | 'taskQueue'>,
  /** Runs the real incident as far as the comparison needs (to its end, or to its approval wait). */
  realRun: (h: WorkflowHandle) => Promise<void>,
): Promise<Rehearsed> {
  const watch = await watchSideEffects(world);
  const dry = await rig.start('dev', { ...opts, dryRun: true });
  const plan = (await dry.result()) as IncidentState;
  const changes = await watch.changes();
  const real = await rig.start('dev', { ...opts, workflowId: uniqueId(`wf-${opts.runbook}-real`) });
  await realRun(real);
  const done = actionsOfHistory(await real.fetchHistory());
  // For the reader of the test log (and the closing note): the plan next to what the real run did.
  console.log(
    `${opts.runbook} dry-run plan:\n${plan.dryRun?.plan.map((a) => `  ${a.n}. would ${a.kind}: ${a.action} [guard: ${a.guard ? (a.guard.wouldGrant ? 'would grant' : 'would refuse') : 'none'}]`).join('\n')}\n  ends: ${plan.dryRun?.end}\n` +
      `${opts.runbook} real run:\n${done.map((a, i) => `  ${i + 1}. ${a.kind}: ${a.action}`).join('\n')}`,
  );
  return { plan, planned: plannedKinds(plan), done, changes, real };
}

const sameAction = (a: DoneAction) => ({ kind: a.kind, action: a.action.replace(/\d+(\.\d+)?/g, '#') });

/** The assertions every runbook's dry run shares. */
export function expectPlanMatches(r: Rehearsed): void {
  expect(r.changes).toEqual([]);
  expect(r.plan.status).toBe('planned');
  expect(r.plan.dryRun?.end).toBeTruthy();
  expect(r.planned.length).toBeGreaterThan(0);
  // Same actions, same order, as far as the plan goes (a page's measured value may differ).
  expect(r.planned.map(sameAction)).toEqual(r.done.slice(0, r.planned.length).map(sameAction));
}
