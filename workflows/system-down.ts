/**
 * P0-1: SYSTEM DOWN
 * Detection: SystemUnreachable alert (3 min)
 * Actions:
 *   1. Check health: GET <api>/api/monitoring/health
 *   2. Check logs: docker logs accubooks-api --tail 100
 *   3. Restart: docker restart accubooks-api
 *   4. Verify: Health returns 200
 * Escalate if: Not resolved in 15 minutes
 *
 * When the restart does not bring health back, the runbook keeps re-checking (backing off) and
 * restarts again up to the policy's limit, while the escalation timer pages the next tier.
 */
import { checks, polls } from './activity-proxies';
import { minutes } from './durations';
import { restartTarget } from './guarded-actions';
import { assumedHealthy } from './verify-health';
import { failureText, failureType, Incident, withSummary } from './incident';
import { withDefaults } from '../definitions/policies/gate-policy';
import { systemDownDefaults, type SystemDownPolicy } from '../definitions/policies/system-down';
import type { IncidentInput, IncidentState } from '../definitions/types';
import type { HealthResult } from '../definitions/observations';

const describeHealth = (h: HealthResult) =>
  h.healthy
    ? `200 OK in ${h.latencyMs} ms`
    : `unhealthy: ${h.status ?? 'no answer'}${h.reason ? ` (${h.reason})` : ''}`;

export async function systemDown(input: IncidentInput<SystemDownPolicy>): Promise<IncidentState> {
  const policy = withDefaults(systemDownDefaults, input.policy);
  const inc = new Incident({ runbook: 'P0-1', name: 'System down', severity: 'P0' }, input, policy);
  const target = input.target;
  // A person's resolve counts only when health answers 200.
  inc.endStateCheck = async () => {
    const h = await withSummary(checks.checkHealth, `Check health of ${target}`, {
      target,
      timeoutMs: policy.healthTimeoutMs,
    });
    return { ok: h.healthy, detail: describeHealth(h) };
  };

  // Escalate if: not resolved in 15 minutes (runs alongside everything below).
  inc.escalateAfter(
    policy.escalateAfterMs,
    `Escalate if not resolved in ${minutes(policy.escalateAfterMs)}`,
    'engineering lead (CTO)',
  );

  // 1. Check health
  if ((await checkHealth(inc, target, policy, 'check-health', '1. Check health'))?.healthy) {
    inc.skip('restart', '3. Restart', 'health was 200 at the first check');
    return inc.finish('resolved', 'API answered 200 at the first check; nothing was restarted');
  }

  inc.setStatus('remediating');
  // 2. Check logs
  await checkLogs(inc, target, policy);

  const budget: RestartBudget = { restarts: 0, canRestart: true };
  for (let attempt = 0; ; attempt++) {
    if (inc.closedByHuman) return inc.finishByHuman();
    if (inc.pastGiveUp)
      return inc.finish('abandoned', 'abandoned: still down after the give-up window; needs a person');

    // 3. Restart (up to the policy's limit; a crash loop escalates instead of restarting forever)
    if (budget.canRestart && budget.restarts < policy.maxRestarts) {
      if (!(await restart(inc, target, policy, budget, input.incidentId))) {
        await inc.waitFor(inc.recheckDelay(attempt), 'Wait, then try the restart again');
        continue;
      }
      // 4. Verify: health returns 200
      if ((await verify(inc, target, policy))?.healthy)
        return inc.finish('resolved', `health 200 after restart ${budget.restarts}`);
      if (budget.restarts === policy.maxRestarts) {
        inc.decide(`Still down after ${budget.restarts} restarts: no more restarts; watching and escalating`);
      }
    } else {
      // Only watching now: one health check per wait, backing off.
      if ((await checkHealth(inc, target, policy, 'recheck-health', 'Re-check health', 'Re-check'))?.healthy)
        return inc.finish('resolved', 'health returned to 200');
    }

    await inc.waitFor(inc.recheckDelay(attempt), 'Wait, then re-check health');
  }
}

/** 1. Check health (and the re-checks once restarts are used up); the result goes into the state. */
async function checkHealth(
  inc: Incident,
  target: string,
  policy: SystemDownPolicy,
  name: string,
  title: string,
  verb = 'Check',
): Promise<HealthResult | undefined> {
  const health = await inc.check(
    name,
    title,
    () =>
      withSummary(checks.checkHealth, `${verb} health of ${target}`, {
        target,
        timeoutMs: policy.healthTimeoutMs,
      }),
    describeHealth,
  );
  if (health) inc.state.checks.health = health;
  return health;
}

/** 2. Check logs: an excerpt, the error count and the container's state go into the state. */
async function checkLogs(inc: Incident, target: string, policy: SystemDownPolicy): Promise<void> {
  const logs = await inc.check(
    'check-logs',
    '2. Check logs',
    () =>
      withSummary(checks.tailContainerLogs, `docker logs ${target} --tail ${policy.logLines}`, {
        container: target,
        lines: policy.logLines,
      }),
    (l) =>
      `${l.lines.length} lines (${l.errorLines} with errors); container ${l.state.status}, exit code ${l.state.exitCode}`,
  );
  if (logs) {
    inc.state.checks.logs = {
      excerpt: logs.lines.slice(-20),
      lineCount: logs.lines.length,
      errorLines: logs.errorLines,
    };
    inc.state.checks.container = logs.state;
  }
}

/** Restarts used so far, and whether restarting is still possible (not refused, container exists). */
interface RestartBudget {
  restarts: number;
  canRestart: boolean;
}

/**
 * 3. Restart, through the target guard. False when the Docker engine could not be reached: nothing
 * was restarted, so it does not use up a restart; the caller waits and tries again. A refusal or a
 * missing container ends the restarts and escalates (true: go on to verify).
 */
async function restart(
  inc: Incident,
  target: string,
  policy: SystemDownPolicy,
  budget: RestartBudget,
  incidentId: string,
): Promise<boolean> {
  budget.restarts++;
  inc.decide(
    `Restart ${budget.restarts}/${policy.maxRestarts}: health is ${describeHealth(inc.state.checks.health ?? { healthy: false, status: null, latencyMs: 0, checkedAt: '' })}`,
  );
  try {
    const restart = await restartTarget(inc, target, {
      title: `3. Restart (${budget.restarts}/${policy.maxRestarts})`,
      reason: `P0-1 ${incidentId}`,
      stopTimeoutSec: policy.stopTimeoutSec,
    });
    if (!restart.done) {
      budget.canRestart = false;
      inc.decide(`Restart refused: ${restart.refusedBecause}`);
      await inc.escalate(`Cannot restart ${target}: ${restart.refusedBecause}`, 'engineering lead (CTO)');
    }
    inc.state.checks.restarts = budget.restarts;
  } catch (err) {
    if (failureType(err) === 'CONTAINER_NOT_FOUND') {
      budget.canRestart = false;
      inc.decide(`Cannot restart: container ${target} does not exist`);
      await inc.escalate(
        `Container ${target} does not exist; it cannot be restarted`,
        'engineering lead (CTO)',
      );
    } else {
      // The engine could not be reached: nothing restarted, so it does not use up a restart;
      // the next round tries again (with the backoff) once the Docker engine answers.
      budget.restarts--;
      inc.decide(`Restart did not happen (${failureText(err)}); it will be tried again`);
      return false;
    }
  }
  return true;
}

/** 4. Verify: health returns 200 within the verify window (polled). */
async function verify(
  inc: Incident,
  target: string,
  policy: SystemDownPolicy,
): Promise<HealthResult | undefined> {
  const step = { name: 'verify', title: '4. Verify: health returns 200' };
  const verified =
    assumedHealthy(inc, step) ??
    (await inc.check(
      step.name,
      step.title,
      () =>
        withSummary(
          polls.waitForHealthy,
          `Verify health of ${target} returns 200 within ${Math.round(policy.verifyWindowMs / 1000)} s`,
          {
            target,
            windowMs: policy.verifyWindowMs,
            intervalMs: policy.verifyIntervalMs,
            timeoutMs: policy.healthTimeoutMs,
          },
        ),
      (h) => `${describeHealth(h)} after ${h.attempts} checks`,
    ));
  if (verified) inc.state.checks.health = verified;
  return verified;
}
