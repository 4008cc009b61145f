/**
 * P0-4: DATA INTEGRITY VIOLATION
 * Detection: Cross-tenant leakage OR calculation error
 * Actions:
 *   1. STOP SYSTEM: docker stop accubooks-api (and hold it: no other runbook may start, restart or
 *      scale it until this incident is approved to resume; see target-guard.ts)
 *   2. Preserve evidence: pg_dump to a timestamped file in the evidence directory, size and SHA-256
 *      recorded (credentials through the environment, never the command line or history)
 *   3. Notify CEO + CTO + Legal immediately (sent while the dump runs, not after it)
 *   4. DO NOT restart without approval: wait for CEO approval (one-time codes, reminders), however
 *      long it takes; a rejection keeps it stopped
 * Resume: CEO approval required; then start the API, release the hold, verify health.
 */
import { condition, proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { DumpResult } from '../activities/evidence';
import { checks } from './activity-proxies';
import { ApprovalGate } from './approval';
import { failureText, failureType, Incident, withSummary } from './incident';
import { dataIntegrityDefaults, type DataIntegrityPolicy } from '../definitions/policies/data-integrity';
import { withDefaults } from '../definitions/policies/gate-policy';
import { restartTarget, startTarget, stopTarget } from './guarded-actions';
import { holdTargetUntilGranted, releaseTargetUntilDone } from './target-hold';
import { verifyHealthy } from './verify-health';
import { notifyRolesStep } from './role-notice';
import type { IncidentInput, IncidentState } from '../definitions/types';

export interface DataIntegrityInput extends IncidentInput<DataIntegrityPolicy> {
  /** "cross-tenant leakage" or "calculation error", with what was seen. */
  violation?: string;
}

/** The dump runs as long as the database is big, heartbeating; a few attempts. */
const evidence = proxyActivities<Activities>({
  startToCloseTimeout: '2 hours',
  heartbeatTimeout: '1 minute',
  retry: {
    initialInterval: '5s',
    backoffCoefficient: 2,
    maximumInterval: '1 minute',
    maximumAttempts: 3,
    nonRetryableErrorTypes: ['INVALID_INPUT', 'ACTION_REFUSED'],
  },
});

export async function dataIntegrityViolation(input: DataIntegrityInput): Promise<IncidentState> {
  const policy = withDefaults(dataIntegrityDefaults, input.policy);
  const inc = new Incident(
    { runbook: 'P0-4', name: 'Data integrity violation', severity: 'P0' },
    input,
    policy,
  );
  const target = input.target;
  const gate = new ApprovalGate(
    inc.approvals,
    'restart-after-integrity-stop',
    `Restart ${target} after the data-integrity stop`,
    {
      requiredRoles: policy.approvalRoles,
      codeTtlMs: policy.codeTtlMs,
      reminderEveryMs: policy.reminderEveryMs,
      maxWrongCodes: policy.maxWrongCodes,
    },
  );
  const violation =
    input.violation ??
    input.trigger.annotations?.violation ??
    input.trigger.labels?.violation ??
    input.trigger.description ??
    'data integrity violation';
  inc.state.checks.violation = violation;
  // A person's resolve counts only after the approval and a healthy restart: the API stays stopped
  // (and a resolve refused) even if someone started it by hand.
  inc.endStateCheck = () => healthyAfterApproval(gate, target, policy);
  inc.setStatus('remediating');

  // 1. STOP SYSTEM, and hold it stopped against every other runbook.
  if (!(await stopAndHold(inc, target, policy, violation))) return inc.finishByHuman();

  // 2. Preserve evidence (pg_dump) and 3. notify CEO + CTO + Legal, at the same time.
  const dump = await preserveEvidenceAndNotify(inc, target, policy, violation);

  // 4. DO NOT restart without approval. An approved abandon ends the wait (and its reminders); the
  // API stays stopped and held.
  const approval = gate.waitForApproval(notifyText(target, violation, policy, dump));
  const closedFirst = await Promise.race([
    approval.then(() => false),
    condition(() => inc.closedByHuman).then(() => true),
  ]);
  if (closedFirst) {
    inc.decide(`Closed by a person before the approval: ${target} stays STOPPED and held (not restarted)`);
    return inc.finishByHuman();
  }
  await approval;

  // Resume: restart, release the hold, verify.
  return resumeAfterApproval(inc, gate, target, policy);
}

/** The end state a person's resolve is checked against: approved, and health 200. */
async function healthyAfterApproval(
  gate: ApprovalGate,
  target: string,
  policy: DataIntegrityPolicy,
): Promise<{ ok: boolean; detail: string }> {
  if (!gate.approved)
    return {
      ok: false,
      detail: `${target} stays stopped until ${policy.approvalRoles.join(' + ')} approve`,
    };
  const h = await withSummary(checks.checkHealth, `Check health of ${target}`, {
    target,
    timeoutMs: policy.healthTimeoutMs,
  });
  return {
    ok: h.healthy,
    detail: h.healthy ? 'health 200 after the approved restart' : `health ${h.status ?? 'no answer'}`,
  };
}

/**
 * 1. STOP SYSTEM, and hold it stopped against every other runbook: held first (retried until the
 * guard grants it), stopped only then, through the guard (retried until it is stopped). False when a
 * person closed the incident meanwhile.
 */
async function stopAndHold(
  inc: Incident,
  target: string,
  policy: DataIntegrityPolicy,
  violation: string,
): Promise<boolean> {
  const holding = `P0-4 data integrity violation (${violation}): stopped pending approval`;
  const tier = 'CTO (data integrity hold)';
  if (!(await holdTargetUntilGranted(inc, target, holding, tier, policy.holdEscalateAfterMs))) {
    return false;
  }
  for (let attempt = 0; ; attempt++) {
    const stop = await stopTarget(inc, target, {
      name: 'stop',
      title: `1. Stop system: docker stop ${target}`,
      reason: `P0-4 ${inc.state.incidentId}: ${violation}`,
      stopTimeoutSec: policy.stopTimeoutSec,
    }).catch((err: unknown) => ({
      done: false as const,
      refusedBecause: failureText(err),
      heldBy: undefined,
      missing: failureType(err) === 'CONTAINER_NOT_FOUND',
    }));
    if (stop.done) return true;
    if ('missing' in stop && stop.missing) {
      // Nothing runs that could be stopped: no retry can help; a person must look.
      await inc.escalate(`${target} cannot be stopped: ${stop.refusedBecause}`, 'CTO (data integrity stop)');
      return true;
    }
    if (stop.heldBy) {
      inc.decide(
        `${target} is already held stopped by ${stop.heldBy.holder.incidentId}: ${stop.refusedBecause}`,
      );
      return true;
    }
    if (attempt === 0)
      await inc.escalate(
        `${target} could not be stopped: ${stop.refusedBecause}; still trying`,
        'CTO (data integrity stop)',
      );
    if (inc.closedByHuman) return false;
    await inc.waitFor(inc.recheckDelay(attempt), `Wait, then stop ${target} again`);
  }
}

/** The message to the notify roles and the approvers: what happened, the hold, the evidence. */
const notifyText = (target: string, violation: string, policy: DataIntegrityPolicy, dump?: DumpResult) =>
  [
    `DATA INTEGRITY VIOLATION on ${target}: ${violation}.`,
    `The API is STOPPED and held stopped: no runbook will start or restart it without ${policy.approvalRoles.join(' + ')} approval.`,
    dump
      ? `Evidence: ${dump.path} (${dump.bytes} bytes, SHA-256 ${dump.sha256}).`
      : 'Evidence: database dump in progress.',
  ].join('\n');

/**
 * 2. Preserve evidence (pg_dump, recorded with its size, hash and permissions) and 3. notify
 * CEO + CTO + Legal, at the same time. A failed dump escalates.
 */
async function preserveEvidenceAndNotify(
  inc: Incident,
  target: string,
  policy: DataIntegrityPolicy,
  violation: string,
): Promise<DumpResult | undefined> {
  const dumpTs = new Date().toISOString();
  const [dump] = await Promise.all([
    inc.rehearsal
      ? noDumpInDryRun(inc)
      : inc.check(
          'pg-dump',
          '2. Preserve evidence: pg_dump',
          () =>
            evidence.dumpDatabase.executeWithOptions(
              {
                summary: `pg_dump of the database to the evidence directory`,
                startToCloseTimeout: policy.dumpTimeoutMs,
              },
              [
                {
                  incidentId: inc.state.incidentId,
                  subdir: policy.evidenceSubdir,
                  timestamp: dumpTs,
                  format: policy.dumpFormat,
                },
              ],
            ),
          (d) =>
            `${d.path}: ${d.bytes} bytes, sha256 ${d.sha256}${d.alreadyDone ? ' (found from an earlier attempt)' : ''}`,
        ),
    notifyRolesStep(
      inc,
      {
        name: 'notify',
        title: `3. Notify ${policy.notifyRoles.join(' + ')}`,
        summary: `Notify ${policy.notifyRoles.join(' + ')}: data integrity stop`,
      },
      {
        roles: policy.notifyRoles,
        subject: `[P0-4] Data integrity violation: ${target} stopped (${inc.state.incidentId})`,
        text: notifyText(target, violation, policy),
        messageId: `<${inc.state.incidentId}.notify@accubooks-runbooks>`,
      },
    ),
  ]);
  if (dump) {
    inc.state.checks.evidence = {
      path: dump.path,
      bytes: dump.bytes,
      sha256: dump.sha256,
      format: dump.format,
      // Permissions found on disk: the dump is a full copy of tenant data (0600 in a 0700 directory).
      mode: dump.mode,
      dirMode: dump.dirMode,
    };
  } else if (!inc.rehearsal) {
    await inc.escalate(
      `Evidence dump failed: ${inc.state.failing['pg-dump']}`,
      'CTO (evidence not preserved)',
    );
  }
  return dump;
}

/** A dry run takes no copy of tenant data: the dump is only said, and its success assumed. */
function noDumpInDryRun(inc: Incident): Promise<undefined> {
  inc.skip(
    'pg-dump',
    '2. Preserve evidence: pg_dump',
    'dry run: would dump the database to the evidence directory',
  );
  return Promise.resolve(undefined);
}

/**
 * Resume: restart, release the hold, verify. "Resolved" means verified: health 200 after the
 * approved start. Until then the incident stays open, escalates, and retries the missing step
 * (start, or a restart through the guard when it came up unhealthy) on a backoff; no failure fails
 * the workflow.
 */
async function resumeAfterApproval(
  inc: Incident,
  gate: ApprovalGate,
  target: string,
  policy: DataIntegrityPolicy,
): Promise<IncidentState> {
  const by = gate.record.approvedBy.map((a) => `${a.approver} (${a.roles.join('/')})`).join(', ');
  let started = false;
  let released = false;
  for (let attempt = 0; ; attempt++) {
    let missing = `${target} is not back yet`;
    if (!started) {
      const start = await startTarget(inc, target, {
        title: `Restart ${target} after approval`,
        reason: `P0-4 ${inc.state.incidentId}: approved by ${gate.record.approvedBy.map((a) => a.approver).join(', ')}`,
      }).catch((err: unknown) => ({ done: false as const, refusedBecause: failureText(err) }));
      if (start.done) started = true;
      missing = `${target} could not be started (${start.done ? '' : start.refusedBecause})`;
    }
    if (started && !released) {
      released = await releaseTargetUntilDone(inc, target, 'approved to resume', 'CTO (data integrity hold)');
      if (!released) return inc.finishByHuman();
    }
    if (started) {
      const health = await verifyHealthy(
        inc,
        target,
        { name: 'verify', title: 'Verify: health returns 200' },
        policy,
      );
      if (health) inc.state.checks.health = health;
      if (health?.healthy) {
        delete inc.state.failing.resume;
        return inc.finish('resolved', `restarted after approval by ${by}; health 200`);
      }
      missing = `${target} is not healthy after the approved start (health ${health?.status ?? inc.state.failing.verify ?? 'no answer'})`;
      // Restart it now (the guard's crash-loop budget may refuse for a while); verified next round.
      const restart = await restartTarget(inc, target, {
        title: `Restart ${target}: it did not come back healthy`,
        reason: `P0-4 ${inc.state.incidentId}: unhealthy after the approved start`,
        stopTimeoutSec: policy.stopTimeoutSec,
      }).catch((err: unknown) => ({ done: false as const, refusedBecause: failureText(err) }));
      if (!restart.done) missing += `; the restart was refused (${restart.refusedBecause})`;
    }
    inc.state.failing.resume = missing;
    // Pages on the first miss, then about every hour at the capped backoff: a P0 keeps paging.
    if (attempt % 6 === 0) await inc.escalate(`Approved by ${by}, but ${missing}; retrying`, 'CTO');
    if (inc.closedByHuman) return inc.finishByHuman();
    await inc.waitFor(inc.recheckDelay(attempt), `Wait, then try again to bring ${target} back`);
    if (inc.closedByHuman) return inc.finishByHuman();
  }
}
