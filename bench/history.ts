/**
 * 4 (and the path of 6). History size over each runbook's window on the time-skipping server: each
 * runbook open for 2.5 simulated hours, then closed by hand, then its follow-up's whole 48 hours;
 * the events in each history (the target: at most 500).
 */
import { randomUUID } from 'node:crypto';
import type { WorkflowHandle } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { startIncident, type StartableRunbook } from '../client/incidents';
import { followUpWorkflowId } from '../definitions/messages';
import { historyOf } from './measure';
import { postIncidentPath, type PostIncidentResult } from './post-incident-path';
import type { Collected, Log } from './report';
import type { BenchSizes } from './sizes';
import { HOUR, incidentIdOf, timeSkippingRig, type TimeSkippingRig } from './time-skipping-rig';

interface RunbookCase {
  runbook: StartableRunbook;
  extraInput?: Record<string, unknown>;
}

const RUNBOOK_CASES: RunbookCase[] = [
  { runbook: 'P0-1' },
  { runbook: 'P0-2' },
  { runbook: 'P0-3', extraInput: { charges: ['ch_bench_1'], reportedBy: 'bench' } },
  { runbook: 'P0-4', extraInput: { violation: 'calculation error (benchmark)' } },
  { runbook: 'P1-1' },
  { runbook: 'P1-2' },
  { runbook: 'P1-3' },
];

export interface HistoryRow {
  runbook: string;
  window: string;
  incidentEvents: number;
  followUpEvents: number | null;
  note?: string;
}

export interface TimeSkippingResult extends PostIncidentResult {
  rows: HistoryRow[];
}

const HISTORY_TARGET = 500;

interface Tracked {
  handle: WorkflowHandle;
  events: number;
  over?: string;
}

/**
 * Time goes forward in steps so that one runbook that floods its history (a polling loop in the
 * workflow) is caught, stopped, and does not stall the others; a wall budget bounds it all.
 */
class SimulatedTime {
  readonly tracked = new Map<string, Tracked>();
  hours = 0;
  stalled: string | undefined;
  private readonly t0 = performance.now();

  constructor(
    private readonly env: TestWorkflowEnvironment,
    private readonly budgetMs: number,
    private readonly log: Log,
  ) {}

  /** `hours` of simulated time, then every tracked history measured; false once the budget is spent. */
  async step(hours: number): Promise<boolean> {
    const left = this.budgetMs - (performance.now() - this.t0);
    if (left <= 0 && this.hours > 0) {
      this.stalled = `wall budget ${this.budgetMs / 1000} s reached at ${this.hours} h simulated`;
      return false;
    }
    // Never abandoned half-way: a pending call would outlive the server's teardown.
    await this.env.sleep(hours * HOUR);
    this.hours += hours;
    await Promise.all([...this.tracked.values()].map((t) => this.measure(t)));
    this.log(
      `  ${this.hours} h: ${[...this.tracked.entries()].map(([id, t]) => `${id.replace(/-hist-[0-9a-f]+-[a-z0-9-]+$/, '')}=${t.events}`).join(' ')}`,
    );
    return true;
  }

  private async measure(t: Tracked): Promise<void> {
    t.events = Math.max(
      t.events,
      await historyOf(t.handle).then(
        (e) => e.length,
        () => 0,
      ),
    );
    if (t.events > HISTORY_TARGET && !t.over) {
      t.over = `over ${HISTORY_TARGET} at ${this.hours} h (stopped there)`;
      await t.handle.terminate('benchmark: history over its target').catch(() => undefined);
    }
  }
}

/** Each runbook's incident on `hist-<run>-<runbook>`; the handles go to `handles` too. */
function startRunbooks(
  rig: TimeSkippingRig,
  run: string,
  runbooks: string[] | undefined,
  handles: WorkflowHandle[],
) {
  return Promise.all(
    RUNBOOK_CASES.filter((c) => !runbooks || runbooks.includes(c.runbook)).map(async (c) => {
      const target = `hist-${run}-${c.runbook.toLowerCase()}`;
      const h = await startIncident({
        client: rig.env.client,
        taskQueue: rig.taskQueue,
        runbook: c.runbook,
        target,
        workflowId: `incident-${c.runbook}-${target}`,
        trigger: {
          source: 'alert',
          alertName: `bench-${c.runbook}`,
          labels: { service: target },
          startedBy: 'bench',
        },
        extraInput: c.extraInput,
      });
      handles.push(h);
      return { c, h };
    }),
  );
}

/** 4. Each runbook's incident and follow-up measured over its window. */
async function historyRows(
  rig: TimeSkippingRig,
  run: string,
  budgetMs: number,
  runbooks: string[] | undefined,
  handles: WorkflowHandle[],
  log: Log,
): Promise<HistoryRow[]> {
  const started = await startRunbooks(rig, run, runbooks, handles);
  const time = new SimulatedTime(rig.env, budgetMs, log);
  for (const { h } of started) time.tracked.set(h.workflowId, { handle: h, events: 0 });
  // P1: the 1- and 2-hour escalations; P0: past their own escalations before a person resolves.
  for (let i = 0; i < 5 && (await time.step(0.5)); i++);
  const incidentIds = await Promise.all(started.map(({ h }) => incidentIdOf(h).catch(() => '')));
  await Promise.all(
    started.map(({ h }) => rig.abandon(h, 'benchmark: window measured').catch(() => undefined)),
  );
  started.forEach(({ c }, i) => {
    if (!incidentIds[i]) return;
    const fu = rig.env.client.workflow.getHandle(followUpWorkflowId(incidentIds[i]));
    handles.push(fu);
    time.tracked.set(`${c.runbook}-follow-up`, { handle: fu, events: 0 });
  });
  // The follow-up's whole window: report due at 24 h, post-mortem at 48 h.
  if (!time.stalled) for (let i = 0; i < 49 && (await time.step(1)); i++);
  return started.map(({ c, h }) => {
    const inc = time.tracked.get(h.workflowId)!;
    const fu = time.tracked.get(`${c.runbook}-follow-up`);
    return {
      runbook: c.runbook,
      window: `${time.hours} h simulated (2.5 h open, then resolved and the follow-up's 48 h)`,
      incidentEvents: inc.events,
      followUpEvents: fu ? fu.events : null,
      note:
        [inc.over && `incident ${inc.over}`, fu?.over && `follow-up ${fu.over}`, time.stalled]
          .filter(Boolean)
          .join('; ') || undefined,
    };
  });
}

export async function historyAndSimulatedTime(
  log: Log = () => undefined,
  budgetMs = 120_000,
  runbooks?: string[],
): Promise<TimeSkippingResult> {
  const rig = await timeSkippingRig();
  log('  time-skipping worker up');
  const run = randomUUID().slice(0, 8);
  const handles: WorkflowHandle[] = [];
  try {
    const rows = await historyRows(rig, run, budgetMs, runbooks, handles, log);
    log('  48-hour post-incident path of one incident');
    const path = await postIncidentPath(rig, run, handles, log);
    await Promise.allSettled(handles.map((x) => x.terminate('benchmark: path measured')));
    return { rows, ...path };
  } finally {
    await Promise.allSettled(handles.map((h) => h.terminate('benchmark finished')));
    await rig.close();
  }
}

/** 4 and 6, and their figures: each runbook's history, and the path's wall time. */
export async function historyBenchmark(sizes: BenchSizes, log: Log, out: Collected): Promise<void> {
  log('4/6. history sizes and the 48-hour post-incident path (time-skipping server)');
  const ts = await historyAndSimulatedTime(log, sizes.timeSkippingBudgetMs, sizes.historyRunbooks);
  out.raw.timeSkipping = ts;
  for (const row of ts.rows) {
    const max = Math.max(row.incidentEvents, row.followUpEvents ?? 0);
    out.figures.push({
      id: `history-${row.runbook}`,
      figure: `History ${row.runbook}: events per incident (2.5 h open, then 49 h follow-up)`,
      target: '≤ 500 events',
      measured: `incident ${row.incidentEvents}, follow-up ${row.followUpEvents ?? 'n/a'}${row.note ? ` (${row.note})` : ''}`,
      pass: max <= 500 && !row.note,
      data: row as unknown as Record<string, unknown>,
    });
  }
  out.figures.push({
    id: 'simulated-48h',
    figure: 'Whole 48-hour post-incident path of one incident (time-skipping server), wall time',
    target: '< 5 s',
    measured: `${(ts.postIncidentWallMs / 1000).toFixed(2)} s (follow-up ${ts.postIncidentStatus})`,
    pass: ts.postIncidentWallMs < 5000,
    data: { wallMs: ts.postIncidentWallMs, status: ts.postIncidentStatus },
  });
}
