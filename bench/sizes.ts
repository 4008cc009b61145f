/**
 * How big each benchmark runs: the default (a shared 2-core machine), the full sizes, and
 * the tiny sizes `test/bench/bench-tiny.test.ts` runs so that no benchmark rots.
 */
export interface BenchSizes {
  /** Alert→first action: measured pairs (runbook alert, floor), after `warmup` unmeasured pairs. */
  firstActionRuns: number;
  warmup: number;
  /** Alert storm: alerts, distinct incidents, alerts per Alertmanager group notification. */
  stormAlerts: number;
  stormIncidents: number;
  groupSize: number;
  /** Concurrent webhook requests in flight (Alertmanager sends each group on its own). */
  stormConcurrency: number;
  /** Storm repeated this many times for the median (the largest size only). */
  stormRepeats: number;
  /**
   * Requests sent to a new intake before a storm's clock starts (resolutions for incidents that do
   * not run: nothing starts). A production intake has been up for days with Alertmanager's
   * connections open and its code compiled; a fresh process is not what a storm meets.
   */
  stormWarmupRequests: number;
  /** Open incidents waiting for approval. */
  openIncidents: number;
  /** Workflow cache of the worker (sized for the open incidents). */
  maxCachedWorkflows: number;
  /** Growth: storm sizes (alerts; incidents keep the storm's ratio) and open-incident sizes. */
  growthAlerts: number[];
  growthOpen: number[];
  /** Wall budget for the time-skipping history run (it stops early rather than hang). */
  timeSkippingBudgetMs: number;
  /** Runbooks whose history is measured (all seven unless a tiny run picks a few). */
  historyRunbooks?: string[];
  /** Detection → action: crashes of the stack's API, each through the whole alert loop. */
  detectionRuns: number;
}

export const DEFAULT_SIZES: BenchSizes = {
  firstActionRuns: 15,
  warmup: 2,
  stormAlerts: 2000,
  stormIncidents: 100,
  groupSize: 4,
  stormConcurrency: 32,
  stormRepeats: 3,
  stormWarmupRequests: 500,
  openIncidents: 200,
  maxCachedWorkflows: 1200,
  growthAlerts: [100, 500, 2000],
  growthOpen: [10, 50, 200],
  timeSkippingBudgetMs: 120_000,
  detectionRuns: 7,
};

export const FULL_SIZES: BenchSizes = {
  ...DEFAULT_SIZES,
  // A ratio of two medians of tens of milliseconds on a shared machine: enough pairs to be stable.
  firstActionRuns: 60,
  warmup: 5,
  stormAlerts: 10_000,
  stormIncidents: 200,
  stormConcurrency: 64,
  openIncidents: 1000,
  growthAlerts: [100, 1000, 10_000],
  growthOpen: [10, 100, 1000],
  timeSkippingBudgetMs: 300_000,
  detectionRuns: 12,
};

export const TINY_SIZES: BenchSizes = {
  firstActionRuns: 1,
  warmup: 0,
  stormAlerts: 24,
  stormIncidents: 3,
  groupSize: 4,
  stormConcurrency: 8,
  stormRepeats: 1,
  stormWarmupRequests: 4,
  openIncidents: 3,
  maxCachedWorkflows: 100,
  growthAlerts: [8, 24],
  growthOpen: [2, 3],
  timeSkippingBudgetMs: 8_000,
  historyRunbooks: ['P0-1', 'P1-1'],
  detectionRuns: 1,
};
