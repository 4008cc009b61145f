/**
 * The approval-gated runbooks: P0-3 billing error (frozen, refunded, resumed on the CEO's code)
 * and P0-4 data integrity (the target held, a P0-1 on it refused, released on the CEO's code).
 */
import { submitApproval } from '../../client/approvals';
import { billingError, dataIntegrityViolation } from '../../workflows';
import { approvalSignal } from '../../definitions/approval';
import { targetLeaseWorkflowId } from '../../definitions/target-guard';
import { abandonSignal, stateQuery } from '../../definitions/messages';
import type { WorkflowHandle } from '@temporalio/client';
import { waitUntil } from '../sandbox';
import { closed, startP01OnHeldTarget, waitForApproval, type Scenario, type ScenarioContext } from './kit';

/**
 * The CEO answers with a typo the moment the code arrives, while the workflow is still sending it
 * (the webhook has not answered yet): the attempt is judged once the code is known. Recorded so,
 * the history proves such a race replays (a reminder timer cancelled in the same workflow task
 * once made it unreplayable).
 */
function typoTheMomentTheCodeArrives(ctx: ScenarioContext, handle: WorkflowHandle): void {
  let sent = false;
  ctx.world.personal.onRequest = async (r) => {
    if (sent || r.path !== '/ceo' || (r.body as { workflowId?: string }).workflowId !== handle.workflowId)
      return;
    sent = true;
    const wrong = r.body.code === '000000' ? '111111' : '000000';
    await handle.signal(approvalSignal, {
      approver: 'ceo',
      decision: 'approve',
      reason: 'typo',
      code: wrong,
    });
  };
}

/** A wrong code (refused and recorded), then the CEO's code through the update path (accepted). */
async function wrongThenRightCode(ctx: ScenarioContext, handle: WorkflowHandle): Promise<void> {
  const code = await ctx.world.waitForCode('ceo');
  await waitUntil(
    'the wrong code to be refused',
    async () => ((await handle.query(stateQuery)).approvals?.[0]?.attempts.length ?? 0) >= 1,
  );
  const answer = await submitApproval(handle, {
    approver: 'ceo',
    decision: 'approve',
    reason: 'checked; resume',
    code: ctx.world.latestCode('ceo') ?? code,
  });
  if (!answer.accepted) throw new Error(`the right code was refused: ${answer.message}`);
}

export const APPROVAL_GATED_SCENARIOS: Scenario[] = [
  {
    name: 'P0-3-frozen-refunded-wrong-code-then-approved',
    async run(ctx) {
      await ctx.admin.query('GRANT SELECT, UPDATE ON billing_config TO runbook');
      const sb = await ctx.newSandbox('abk-rec-p03', { BILLING_KEY: ctx.billingKey });
      const handle = await ctx.env.client.workflow.start(billingError, {
        taskQueue: ctx.taskQueue,
        workflowId: ctx.id('P0-3'),
        args: [
          {
            incidentId: ctx.id('P0-3'),
            target: sb.name,
            trigger: { source: 'manual', startedBy: 'recorder', description: 'customer charged twice' },
            charges: ['ch_recfirst', 'pi_recsecond'],
            reportedBy: 'support@accubooks.test',
            policy: { verifyWindowMs: 30_000, verifyIntervalMs: 500 },
          },
        ],
      });
      typoTheMomentTheCodeArrives(ctx, handle);
      await waitForApproval(handle);
      await wrongThenRightCode(ctx, handle);
      ctx.world.personal.onRequest = undefined;
      const state = await closed(handle);
      if (state.status !== 'resolved') throw new Error(`P0-3 ended ${state.status}`);
      return { 'P0-3-frozen-refunded-wrong-code-then-approved': handle };
    },
  },
  {
    // One target, three histories: P0-4 holds it, a P0-1 on it is refused the restart (a person
    // closes it), the CEO's code (after a wrong one) releases the hold; the guard saw all of it.
    name: 'P0-4-held-wrong-code-then-approved',
    fixtures: [
      'P0-4-held-wrong-code-then-approved',
      'P0-1-restart-refused-target-held',
      'target-guard-hold-refused-restart-released',
    ],
    async run(ctx) {
      const sb = await ctx.newSandbox('abk-rec-p04');
      const p04 = await ctx.env.client.workflow.start(dataIntegrityViolation, {
        taskQueue: ctx.taskQueue,
        workflowId: ctx.id('P0-4'),
        args: [
          {
            incidentId: ctx.id('P0-4'),
            target: sb.name,
            trigger: {
              source: 'alert',
              alertName: 'CrossTenantLeakage',
              labels: { violation: 'cross-tenant leakage' },
            },
            policy: { verifyWindowMs: 20_000, verifyIntervalMs: 500 },
          },
        ],
      });
      typoTheMomentTheCodeArrives(ctx, p04);
      await waitForApproval(p04);
      const p01 = await startP01OnHeldTarget(
        ctx.env.client,
        ctx.taskQueue,
        { workflowId: ctx.id('P0-1-held'), incidentId: ctx.id('P0-1') },
        sb.name,
      );
      // The API is held stopped, so a resolve would be refused: an abandon the CTO confirms.
      await p01.signal(abandonSignal, { by: 'recorder', reason: 'held by P0-4; nothing to do here' });
      const cto = await ctx.world.waitForCode('cto');
      await p01.signal(abandonSignal, { by: 'cto', reason: 'confirmed', code: cto });
      await p01.result();
      await wrongThenRightCode(ctx, p04);
      ctx.world.personal.onRequest = undefined;
      const state = await closed(p04);
      if (state.status !== 'resolved') throw new Error(`P0-4 ended ${state.status}`);
      return {
        'P0-4-held-wrong-code-then-approved': p04,
        'P0-1-restart-refused-target-held': p01,
        'target-guard-hold-refused-restart-released': ctx.env.client.workflow.getHandle(
          targetLeaseWorkflowId(sb.name),
        ),
      };
    },
  },
];
