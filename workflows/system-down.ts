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
import { failureText, failureType, Incident, withSummary } from './incident';
import { withDefaults } from '../definitions/policies/gate-policy';
import { systemDownDefaults, type SystemDownPolicy } from '../definitions/policies/system-down';
import type { IncidentInput, IncidentState } from '../definitions/types';
import type { HealthResult } from '../activities/health';

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
  const health = await inc.check(
    'check-health',
    '1. Check health',
    () =>
      withSummary(checks.checkHealth, `Check health of ${target}`, {
        target,
        timeoutMs: policy.healthTimeoutMs,
      }),
    describeHealth,
  );
  if (health) inc.state.checks.health = health;
  if (health?.healthy) {
    inc.skip('restart', '3. Restart', 'health was 200 at the first check');
    return inc.finish('resolved', 'API answered 200 at the first check; nothing was restarted');
  }

  inc.setStatus('remediating');
  // 2. Check logs
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

  let restarts = 0;
  let canRestart = true;
  for (let attempt = 0; ; attempt++) {
    if (inc.closedByHuman) return inc.finishByHuman();
    if (inc.pastGiveUp)
      return inc.finish('abandoned', 'abandoned: still down after the give-up window; needs a person');

    // 3. Restart (up to the policy's limit; a crash loop escalates instead of restarting forever)
    if (canRestart && restarts < policy.maxRestarts) {
      restarts++;
      inc.decide(
        `Restart ${restarts}/${policy.maxRestarts}: health is ${describeHealth((inc.state.checks.health as HealthResult | undefined) ?? { healthy: false, status: null, latencyMs: 0, checkedAt: '' })}`,
      );
      try {
        const restart = await restartTarget(inc, target, {
          title: `3. Restart (${restarts}/${policy.maxRestarts})`,
          reason: `P0-1 ${input.incidentId}`,
          stopTimeoutSec: policy.stopTimeoutSec,
        });
        if (!restart.done) {
          canRestart = false;
          inc.decide(`Restart refused: ${restart.refusedBecause}`);
          await inc.escalate(`Cannot restart ${target}: ${restart.refusedBecause}`, 'engineering lead (CTO)');
        }
        inc.state.checks.restarts = restarts;
      } catch (err) {
        if (failureType(err) === 'CONTAINER_NOT_FOUND') {
          canRestart = false;
          inc.decide(`Cannot restart: container ${target} does not exist`);
          await inc.escalate(
            `Container ${target} does not exist; it cannot be restarted`,
            'engineering lead (CTO)',
          );
        } else {
          // The engine could not be reached: nothing restarted, so it does not use up a restart;
          // the next round tries again (with the backoff) once the Docker engine answers.
          restarts--;
          inc.decide(`Restart did not happen (${failureText(err)}); it will be tried again`);
          await inc.waitFor(inc.recheckDelay(attempt), 'Wait, then try the restart again');
          continue;
        }
      }

      // 4. Verify: health returns 200
      const verified = await inc.check(
        'verify',
        '4. Verify: health returns 200',
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
      );
      if (verified) inc.state.checks.health = verified;
      if (verified?.healthy) return inc.finish('resolved', `health 200 after restart ${restarts}`);
      if (restarts === policy.maxRestarts) {
        inc.decide(`Still down after ${restarts} restarts: no more restarts; watching and escalating`);
      }
    } else {
      // Only watching now: one health check per wait, backing off.
      const h = await inc.check(
        'recheck-health',
        'Re-check health',
        () =>
          withSummary(checks.checkHealth, `Re-check health of ${target}`, {
            target,
            timeoutMs: policy.healthTimeoutMs,
          }),
        describeHealth,
      );
      if (h) inc.state.checks.health = h;
      if (h?.healthy) return inc.finish('resolved', 'health returned to 200');
    }

    await inc.waitFor(inc.recheckDelay(attempt), 'Wait, then re-check health');
  }
}
