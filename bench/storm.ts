/**
 * 2 (and 5, its growth). Alert storm: Alertmanager notifications of many alerts for a few incidents
 * posted to the real intake (closed loop, or open loop at a rate); exactly one workflow per incident,
 * every alert accounted for and in its incident's state, none lost, none started twice.
 */
import { randomUUID } from 'node:crypto';
import type { IncidentState } from '../definitions/types';
import { stateQuery } from '../definitions/messages';
import { amAlert, amGroup, STORM_ALERTS, type AmAlert } from './alertmanager';
import { startDevRig, type DevRig } from './dev-rig';
import { firstActivityStartedMs, pool, rssSampler, sleep } from './measure';
import type { Invariants } from './report';
import type { BenchSizes } from './sizes';

export interface StormResult {
  alerts: number;
  incidents: number;
  wallMs: number;
  alertsPerSec: number;
  requests: number;
  requestMs: number[];
  /** Per incident: its first webhook posted → its first activity started. */
  firstActionMs: number[];
  /** The worker process's peak RSS; the intake's (this process, with the load generator). */
  peakRssMb: number;
  intakePeakRssMb: number;
  /** Until every folded alert was delivered to Temporal. */
  deliveredMs: number;
  invariant: Invariants['storm'][number];
  problems: string[];
}

/**
 * Open loop: each item is sent at its time (`weight` alerts at `ratePerSec`), whether or not the
 * earlier ones were answered, as Alertmanager sends; latency then is what a request takes at that
 * rate, not the queue a saturating closed loop builds (concurrency ÷ throughput).
 */
async function atRate<T>(
  items: T[],
  ratePerSec: number,
  weight: (item: T) => number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  const t0 = performance.now();
  const inFlight: Promise<void>[] = [];
  let sent = 0;
  for (const item of items) {
    const wait = t0 + (sent / ratePerSec) * 1000 - performance.now();
    if (wait > 1) await sleep(wait);
    inFlight.push(fn(item));
    sent += weight(item);
  }
  await Promise.all(inFlight);
}

/** Resolutions for incidents that do not run (answered, folded, dropped: nothing starts), until delivered. */
async function warmUp(rig: DevRig, requests: number, run: string): Promise<void> {
  const groups = Array.from({ length: requests }, (_, i) => [
    amAlert(STORM_ALERTS[i % STORM_ALERTS.length], `warmup-${run}-${i % 50}`, 1 + (i % 4), 'resolved'),
  ]);
  await pool(groups, 8, async (g) => {
    const r = await rig.post(amGroup(g));
    if (r.status !== 200)
      throw new Error(`warm-up request refused: HTTP ${r.status} ${JSON.stringify(r.json)}`);
  });
  const deadline = Date.now() + 30_000;
  while ((await rig.pendingFolds()) > 0 && Date.now() < deadline) await sleep(20);
}

/** The notifications of a storm in the order they are sent, and the incident each is for. */
interface StormPlan {
  queue: AmAlert[][];
  incidentOf: Map<AmAlert[], number>;
}

/** What the intake answered, per request and per alert. */
interface StormTally {
  /** Per incident: when its first notification was posted. */
  firstPostAt: Map<number, number>;
  requestMs: number[];
  /** Per workflow: the firing and resolved alerts the intake accounted to it. */
  firing: Map<string, number>;
  resolved: Map<string, number>;
  starts: Map<string, number>;
  accounted: number;
  lost: number;
  problems: string[];
}

/**
 * Per incident: notifications of `groupSize` alerts (one instance each). The first fires them all,
 * the middle ones are Alertmanager's repeats, the last resolves half the instances. Group waits go
 * first, then repeats and resolutions interleaved across incidents.
 */
function planStorm(sizes: BenchSizes, alerts: number, incidents: number, run: string): StormPlan {
  const perIncident = Array.from(
    { length: incidents },
    (_, j) => Math.floor(alerts / incidents) + (j < alerts % incidents ? 1 : 0),
  );
  const first: AmAlert[][] = [];
  const rest: AmAlert[][] = [];
  const lastOnes: AmAlert[][] = [];
  const incidentOf = new Map<AmAlert[], number>();
  perIncident.forEach((count, j) => {
    const alertname = STORM_ALERTS[j % STORM_ALERTS.length];
    const service = `storm-${run}-${j}`;
    const groups: AmAlert[][] = [];
    for (let left = count; left > 0; left -= sizes.groupSize) {
      const n = Math.min(sizes.groupSize, left);
      groups.push(Array.from({ length: n }, (_, k) => amAlert(alertname, service, k + 1, 'firing')));
    }
    const last = groups[groups.length - 1];
    if (groups.length > 1)
      for (let k = 0; k < Math.floor(last.length / 2); k++)
        last[k] = amAlert(alertname, service, k + 1, 'resolved');
    groups.forEach((g, gi) => {
      incidentOf.set(g, j);
      if (gi === 0) first.push(g);
      else if (gi === groups.length - 1 && groups.length > 1) lastOnes.push(g);
      else rest.push(g);
    });
  });
  const shuffle = <T>(xs: T[]) => {
    for (let i = xs.length - 1; i > 0; i--) {
      const k = Math.floor(Math.random() * (i + 1));
      [xs[i], xs[k]] = [xs[k], xs[i]];
    }
    return xs;
  };
  return { queue: [...shuffle(first), ...shuffle(rest), ...lastOnes], incidentOf };
}

/** Posts one notification and counts what the intake answered for each of its alerts. */
async function postGroup(rig: DevRig, group: AmAlert[], j: number, tally: StormTally): Promise<void> {
  if (!tally.firstPostAt.has(j)) tally.firstPostAt.set(j, Date.now());
  const r = await rig.post(amGroup(group));
  tally.requestMs.push(r.ms);
  if (r.status !== 200) tally.problems.push(`HTTP ${r.status}: ${JSON.stringify(r.json).slice(0, 200)}`);
  const results = r.json.results ?? [];
  if (results.length !== group.length) tally.lost += group.length - results.length;
  for (const res of results) {
    const id = res.workflowId ?? '?';
    if (res.outcome === 'started') tally.starts.set(id, (tally.starts.get(id) ?? 0) + 1);
    if (res.outcome === 'started' || res.outcome === 'joined' || res.outcome === 'queued') {
      tally.accounted++;
      const m = res.status === 'resolved' ? tally.resolved : tally.firing;
      m.set(id, (m.get(id) ?? 0) + 1);
    } else if (res.outcome === 'ignored') {
      tally.accounted++; // a resolution that raced ahead of its start: answered, never an action
    } else tally.lost++;
  }
}

/**
 * Every counted alert must be in its incident's state (signals are applied by workflow tasks:
 * wait); the workflows whose state does not hold them all, each said in `problems`.
 */
async function unheldAlerts(rig: DevRig, ids: string[], tally: StormTally, alerts: number): Promise<number> {
  const deadline = Date.now() + 60_000 + alerts * 10;
  const mismatched = new Set(ids);
  while (mismatched.size && Date.now() < deadline) {
    await pool([...mismatched], 16, async (id) => {
      const s = await rig.client.workflow
        .getHandle(id)
        .query<IncidentState>(stateQuery)
        .catch(() => undefined);
      if (
        s &&
        s.alerts.firing === (tally.firing.get(id) ?? 0) &&
        s.alerts.resolved === (tally.resolved.get(id) ?? 0)
      )
        mismatched.delete(id);
    });
    if (mismatched.size) await sleep(200);
  }
  for (const id of mismatched) tally.problems.push(`${id}: state does not hold every alert sent to it`);
  return mismatched.size;
}

/** Runs per incident workflow ID, to see exactly one each (visibility catches up within seconds). */
async function runsPerIncident(rig: DevRig, run: string, incidents: number): Promise<Map<string, number>> {
  const runs = new Map<string, number>();
  for (let tries = 0; tries < 50; tries++) {
    runs.clear();
    for await (const wf of rig.client.workflow.list({ query: `TaskQueue = '${rig.taskQueue}'` })) {
      if (wf.workflowId.includes(`storm-${run}-`) && wf.workflowId.startsWith('incident-'))
        runs.set(wf.workflowId, (runs.get(wf.workflowId) ?? 0) + 1);
    }
    if (runs.size >= incidents) break;
    await sleep(200);
  }
  return runs;
}

/** Per incident: its first notification posted → its first activity started. */
function firstActions(rig: DevRig, run: string, ids: string[], firstPostAt: Map<number, number>) {
  return pool([...firstPostAt.entries()], 16, async ([j, postedAt]) => {
    const id = ids.find((x) => x.endsWith(`storm-${run}-${j}`));
    if (!id) return NaN;
    return (await firstActivityStartedMs(rig.client.workflow.getHandle(id)).catch(() => NaN)) - postedAt;
  });
}

export async function alertStorm(
  sizes: BenchSizes,
  alerts: number,
  incidents: number,
  /** Open loop at this many alerts/s; otherwise a closed loop of `stormConcurrency` requests. */
  ratePerSec?: number,
): Promise<StormResult> {
  const rig = await startDevRig('storm', sizes);
  const run = randomUUID().slice(0, 8);
  const tally: StormTally = {
    firstPostAt: new Map(),
    requestMs: [],
    firing: new Map(),
    resolved: new Map(),
    starts: new Map(),
    accounted: 0,
    lost: 0,
    problems: [],
  };
  try {
    const { queue, incidentOf } = planStorm(sizes, alerts, incidents, run);
    await warmUp(rig, sizes.stormWarmupRequests, run);
    const sampler = rssSampler(rig.worker.pid);
    const intakeSampler = rssSampler(rig.intakePid);
    const t0 = performance.now();
    const post = (g: AmAlert[]) => postGroup(rig, g, incidentOf.get(g)!, tally);
    if (ratePerSec) await atRate(queue, ratePerSec, (g) => g.length, post);
    else await pool(queue, sizes.stormConcurrency, post);
    const wallMs = performance.now() - t0;
    // Folded alerts reach Temporal after the answers: until none is pending.
    while ((await rig.pendingFolds()) > 0 && performance.now() - t0 < wallMs + 120_000) await sleep(20);
    const deliveredMs = performance.now() - t0;

    const ids = [...new Set([...tally.firing.keys(), ...tally.resolved.keys()])];
    tally.lost += await unheldAlerts(rig, ids, tally, alerts);
    const runs = await runsPerIncident(rig, run, incidents);
    const startedTwice =
      [...runs.values()].filter((n) => n > 1).length + [...tally.starts.values()].filter((n) => n > 1).length;
    const firstActionMs = await firstActions(rig, run, ids, tally.firstPostAt);
    const peakRssMb = sampler.stop();
    const intakePeakRssMb = intakeSampler.stop();
    const { accounted, lost, problems } = tally;
    return {
      alerts,
      incidents,
      wallMs,
      alertsPerSec: alerts / (wallMs / 1000),
      requests: queue.length,
      requestMs: tally.requestMs,
      firstActionMs: firstActionMs.filter((x) => !Number.isNaN(x)),
      peakRssMb,
      intakePeakRssMb,
      deliveredMs,
      invariant: {
        size: alerts,
        expectedWorkflows: incidents,
        workflows: runs.size,
        alertsAccounted: accounted,
        alerts,
        lost,
        startedTwice,
        ok:
          runs.size === incidents &&
          accounted === alerts &&
          lost === 0 &&
          startedTwice === 0 &&
          problems.length === 0,
      },
      problems: problems.slice(0, 10),
    };
  } finally {
    await rig.close();
  }
}
