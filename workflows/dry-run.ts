/**
 * Dry runs (rehearsals): the same runbook code against the real systems, with `dryRun` in its input.
 * Every read-only check is real; every mutating action (restart, stop, start, scale, the billing and
 * pause flags, refunds, query and session kills), every page and every runbook notification is
 * only recorded as a planned "would ..." step, after asking the target's guard, read-only, whether
 * it would grant it (guarded-actions.ts, `wouldGrant`). Approvals stay real (real codes to the real
 * approvers), every message marked as a rehearsal.
 *
 * The plan follows the runbook's success path to its end. A runbook's next step often reads what its
 * last action did (a restart, then "verify: health returns 200"; a kill, then the pool again). A dry
 * run did not act, so that read would see the fault still there and the runbook would go on as if
 * the action had failed (restart again, escalate): a path the real run never takes when the fix
 * works. So once an action is planned (`acted`), every such read is not taken: it is recorded as
 * "would verify (assumed: <the success condition>)" (`assumeVerified`, a `verify` entry in the
 * plan) and gives the value the real check gives when the fix worked; a planned action gives what
 * its activity returns when it worked (assumed-results.ts). Read-only checks before the first
 * planned action (the diagnosis) stay real, and so does every read that is not of an action's
 * effect (refund caps, a charge's amount). Approvals are real: real codes to the real approvers,
 * every message marked as a rehearsal; the plan waits for them and goes on past them. The plan ends
 * where the real run would end ("the real run would end here, resolved: ..."), or, should the
 * runbook not resolve even on the sample its success condition describes, there, saying why
 * (`endPlan`, verify-loop.ts). `runbooks rehearse` compares the plan with what a past incident did.
 */
import { upsertSearchAttributes } from '@temporalio/workflow';
import {
  ASSUMED_CHECK_KIND,
  type EscalationRecord,
  type IncidentState,
  type PlannedAction,
} from '../definitions/types';
import { AwaitingApprovalKey, DryRunKey, IncidentStatusKey } from './search-attributes';

const now = () => new Date().toISOString();

/** One dry run's end: the state to return once the plan is complete. */
export class Rehearsal {
  /** An action was planned: from here, reads of an action's effect are assumed (`assumeVerified`). */
  acted = false;
  private complete!: (state: IncidentState) => void;
  readonly ended = new Promise<IncidentState>((resolve) => (this.complete = resolve));

  /** Marks the incident as a dry run: in its state and by `DryRun = true` (never mixed with real ones). */
  begin(state: IncidentState, rehearsalOf?: string): void {
    state.dryRun = { plan: [], rehearsalOf };
    upsertSearchAttributes([{ key: DryRunKey, value: 'true' }]);
  }

  /** Appends a planned action to the state's plan (numbered in order). */
  plan(state: IncidentState, action: Omit<PlannedAction, 'n' | 'at'>): PlannedAction {
    const plan = (state.dryRun ??= { plan: [] }).plan;
    const entry: PlannedAction = { n: plan.length + 1, at: now(), ...action };
    plan.push(entry);
    return entry;
  }

  /**
   * After a planned action, a check of its effect is not read: planned as "would verify (assumed:
   * `condition`)"; true when it was (the caller returns the check's success value). Before any
   * planned action (the diagnosis), and in a real run, false: the check is read.
   */
  assumeVerified(state: IncidentState, what: string, condition: string): boolean {
    if (!this.acted) return false;
    this.plan(state, {
      kind: ASSUMED_CHECK_KIND,
      action: what,
      target: state.target,
      inputs: { assumed: condition },
    });
    state.decisions.push(`${now()} Dry run: would verify ${what} (assumed: ${condition})`);
    return true;
  }

  /** A page the real run would send here: planned, not sent (its escalation record says so). */
  page(state: IncidentState, tier: string, reason: string): EscalationRecord {
    this.plan(state, {
      kind: 'page',
      action: `Page ${tier}: ${reason}`,
      target: state.target,
      inputs: { tier, reason },
    });
    return {
      at: now(),
      tier,
      reason,
      delivered: [],
      failed: [{ channel: 'all', error: 'dry run: not sent' }],
    };
  }

  /** The plan is complete (`why`: where and why it ends); the workflow returns the state. */
  endPlan(state: IncidentState, why: string): void {
    // Actions only: the assumed checks (`verify`) are reads.
    const n = state.dryRun?.plan.filter((a) => a.kind !== ASSUMED_CHECK_KIND).length ?? 0;
    Object.assign((state.dryRun ??= { plan: [] }), { end: why, endedAt: now() });
    state.status = 'planned';
    state.currentStep = 'plan complete';
    state.waitingFor = undefined;
    state.outcome = `dry run: ${n} action${n === 1 ? '' : 's'} planned, nothing done; ${why}`;
    state.decisions.push(`${now()} Dry run ends: ${why}`);
    upsertSearchAttributes([
      { key: IncidentStatusKey, value: 'planned' },
      { key: AwaitingApprovalKey, value: false },
    ]);
    this.complete(state);
  }
}

// Keyed by the input object itself: one per workflow run, whatever else shares this module.
const rehearsals = new WeakMap<object, Rehearsal>();

/** The rehearsal of a dry run's input (made by `rehearsable`, or here when started without it). */
export function rehearsalOf(input: { dryRun?: boolean }): Rehearsal | undefined {
  if (input.dryRun !== true) return undefined;
  let r = rehearsals.get(input);
  if (!r) rehearsals.set(input, (r = new Rehearsal()));
  return r;
}

/** The runbook as a workflow: unchanged for a real run; a dry run ends when its plan does. */
export function rehearsable<I extends { dryRun?: boolean }>(
  runbook: (input: I) => Promise<IncidentState>,
): (input: I) => Promise<IncidentState> {
  const workflow = (input: I): Promise<IncidentState> => {
    if (input?.dryRun !== true) return runbook(input);
    const r = rehearsalOf(input)!;
    return Promise.race([runbook(input), r.ended]);
  };
  // The workflow type is the export's name; tests start it by function, which sends `name`.
  Object.defineProperty(workflow, 'name', { value: runbook.name });
  return workflow;
}
