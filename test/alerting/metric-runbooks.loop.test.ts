/**
 * The whole loop for the metric runbooks other than P0-1 (system-down.loop.test.ts), nothing
 * started by hand: a fault injected into the stack's sandbox API (sandbox/faults.ts) → its
 * Prometheus rule fires → the stack's Alertmanager → the intake → the right runbook on the API, on
 * the real worker process → its fix → its own end-state check passes → resolved → the alert
 * resolves and Alertmanager's resolved notification reaches the incident as information.
 * The intake starts these incidents with shorter verification windows (runbookPolicies: seconds
 * instead of the runbook's 5 to 10 minutes); the fixes and checks are the runbooks' own.
 */
import { incidentWorkflowId } from '../../client/incidents';
import type { IncidentState, RunbookId } from '../../definitions/types';
import { need } from '../../rig/env';
import { testDocker } from '../../rig/sandbox';
import { stackApi } from '../../rig/stack-api';
import {
  detected,
  expectResolvedNotification,
  hopsOf,
  quietStart,
  recordHops,
  stackRateWindow,
  startLoopRig,
  type LoopRig,
} from './loop-rig';

const container = need('ACCUBOOKS_API_CONTAINER');
const api = stackApi();

// Seconds, not minutes, to verify: the checks themselves are the runbooks'.
const short = { resolveWindowMs: 10_000, sampleIntervalMs: 2_000, maxSampleIntervalMs: 5_000 };

interface LoopCase {
  runbook: RunbookId;
  alert: string;
  fault: Record<string, unknown>;
  /** Policy overrides beside the short windows. */
  policy?: Record<string, unknown>;
  /** The runbook's fix: the first step that acts on the target (for the hop figures). */
  fix: (s: IncidentState) => string | undefined;
  done: (s: IncidentState) => void;
}

// The sandbox's faults for the seed's detections (POOL_MAX 10; self-traffic 5 requests/s), each
// with a TTL so a failed test leaves nothing behind for long.
const cases: LoopCase[] = [
  {
    runbook: 'P1-1',
    alert: 'HighErrorRate',
    // In the API's memory: the restart is the fix.
    fault: { fault: 'error-rate', rate: 0.5, ttlSeconds: 180 },
    policy: { rateWindow: stackRateWindow },
    fix: () => 'restart',
    done: (s) => expect(s.steps.find((st) => st.name === 'restart')?.status).toBe('done'),
  },
  {
    runbook: 'P1-2',
    alert: 'HighLatency',
    // Half the business queries sleep 2 s: p95 over 1 s with the pool at about half (8 s queries
    // fill the pool, the scrapes time out and SystemUnreachable inhibits HighLatency). The runbook's
    // "slow" line (5 s) is lowered to 1 s below them, so it finds and cancels them; new ones come
    // while the fault lasts (40 s), then p95 falls under 1 s.
    fault: { fault: 'slow-queries', seconds: 2, probability: 0.5, ttlSeconds: 40 },
    policy: { slowQueryMs: 1_000, rateWindow: stackRateWindow },
    fix: (s) => s.steps.find((st) => st.name.startsWith('cancel-'))?.name,
    done: (s) => {
      const killed = s.checks.killed as { rounds: number; cancelled: number[] };
      expect(killed.rounds).toBeGreaterThanOrEqual(1);
      expect(
        killed.cancelled.length + ((s.checks.killed as { terminated: number[] }).terminated.length ?? 0),
      ).toBeGreaterThan(0);
    },
  },
  {
    runbook: 'P1-3',
    alert: 'QueueOverflow',
    // 1000 jobs at once: over the pause line (500): new jobs paused, forecast workers scaled up;
    // once drained, jobs resumed and the replicas it started removed.
    fault: { fault: 'queue-flood', jobs: 1000, ttlSeconds: 60 },
    fix: () => 'pause-jobs',
    done: (s) => {
      const done = (name: string) => s.steps.some((st) => st.name === name && st.status === 'done');
      expect(done('pause-jobs')).toBe(true);
      expect(s.steps.some((st) => /^scale(-\d+)?$/.test(st.name) && st.status === 'done')).toBe(true);
      expect(done('resume-jobs')).toBe(true);
      expect(done('scale-down')).toBe(true);
    },
  },
  {
    runbook: 'P0-2',
    alert: 'DatabasePoolExhaustion',
    // Connections checked out and never released, in the API's memory: the restart is the fix.
    // Leaking the pool also slows requests: it goes last.
    fault: { fault: 'leak-pool', count: 10, ttlSeconds: 180 },
    fix: () => 'restart',
    done: (s) => expect(s.steps.find((st) => st.name === 'restart')?.status).toBe('done'),
  },
];

let loop: LoopRig;

beforeAll(async () => {
  loop = await startLoopRig('loop-metric', {
    alertRunbooks: Object.fromEntries(cases.map((c) => [c.alert, c.runbook])),
    runbookPolicies: Object.fromEntries(cases.map((c) => [c.runbook, { ...short, ...c.policy }])),
  });
});
afterEach(async () => {
  await api.faults('DELETE');
});
afterAll(async () => {
  await loop?.close();
  // The next suites expect the API as the stack started it.
  await testDocker().getContainer(container).restart({ t: 5 });
  await api.healthyAgain();
});

test.each(cases)(
  '$fault.fault → $alert → Alertmanager → intake → $runbook fixes the API → resolved → resolved notification',
  async (c) => {
    await quietStart(loop, c.alert, c.runbook);
    const t0 = Date.now();
    await api.faults('POST', c.fault);
    const { start, episode } = await detected(loop, c.alert, t0);
    expect(start.alert).toMatchObject({ runbook: c.runbook, target: container });

    const handle = loop.rig.client.workflow.getHandle(incidentWorkflowId(c.runbook, container));
    const final = (await handle.result()) as IncidentState;
    expect(final).toMatchObject({ runbook: c.runbook, target: container, status: 'resolved' });
    expect(final.trigger).toMatchObject({ source: 'alert', alertName: c.alert });
    c.done(final);

    const resolved = await expectResolvedNotification(loop, final, episode);
    recordHops(c.runbook, hopsOf(t0, start, final, c.fix(final) ?? '', resolved));
  },
  // A quiet start (an earlier fault fading from the one-minute rates), detection, the fix, the
  // alert resolving over its rate window, the resolved notification: minutes, not seconds.
  8 * 60_000,
);
