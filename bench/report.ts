/**
 * The rows and the report: what every benchmark adds its figures to, the growth rows, the machine
 * note, and the table `npm run bench` prints.
 */
import os from 'node:os';
import type { BenchSizes } from './sizes';
import type { Spread } from './stats';

export interface Figure {
  id: string;
  figure: string;
  target: string;
  measured: string;
  /** null: informational, no target. */
  pass: boolean | null;
  data: Record<string, unknown>;
}

export interface Invariants {
  /** Storm: exactly M workflows, every alert accounted for, none lost, none started twice. */
  storm: {
    size: number;
    expectedWorkflows: number;
    workflows: number;
    alertsAccounted: number;
    alerts: number;
    lost: number;
    startedTwice: number;
    ok: boolean;
  }[];
  /** Open incidents: every one opened, approved and resumed. */
  open: { size: number; opened: number; resumed: number; ok: boolean }[];
}

/** What the benchmarks collect as they run, in the order they run. */
export interface Collected {
  figures: Figure[];
  invariants: Invariants;
  growth: { storm: Record<string, unknown>[]; open: Record<string, unknown>[] };
  raw: Record<string, unknown>;
}

export type Log = (line: string) => void;

/** A run: when, at which sizes, on which machine, and what its benchmarks collected. */
export interface BenchReport extends Collected {
  at: string;
  mode: string;
  machine: { cpus: number; model: string; memGb: number; node: string; note: string };
  sizes: BenchSizes;
}

export const ms = (v: number) => `${Math.round(v)} ms`;
export const sp = (s: Spread, unit = 'ms') =>
  s.n === 0
    ? 'n/a'
    : s.n === 1
      ? `${Math.round(s.median)} ${unit}`
      : `${Math.round(s.median)} ${unit} (${Math.round(s.min)}–${Math.round(s.max)}, n=${s.n})`;

export function newCollected(): Collected {
  return { figures: [], invariants: { storm: [], open: [] }, growth: { storm: [], open: [] }, raw: {} };
}

/** 5. Growth of the storm and the open incidents, as figures (from the rows benchmarks 2 and 3 added). */
export function addGrowthFigures(out: Collected): void {
  if (out.growth.storm.length)
    out.figures.push(
      growthFigure(
        'growth-storm',
        'Growth: storm (alerts → wall time, worker peak RSS)',
        out.growth.storm,
        'alerts',
        'wallMs',
        'peakRssMb',
      ),
    );
  if (out.growth.open.length)
    out.figures.push(
      growthFigure(
        'growth-open',
        'Growth: open incidents (→ time to open, worker RSS)',
        out.growth.open,
        'open',
        'openWallMs',
        'rssMb',
      ),
    );
}

/** Linear or better: per-unit cost at the largest size ≤ 1.5 × per-unit cost at the smallest. */
function growthFigure(
  id: string,
  figure: string,
  rows: Record<string, unknown>[],
  sizeKey: string,
  timeKey: string,
  memKey: string,
): Figure {
  const pts = rows.map((r) => ({
    size: Number(r[sizeKey]),
    time: Number(r[timeKey]),
    mem: Number(r[memKey]),
  }));
  const lo = pts[0];
  const hi = pts[pts.length - 1];
  const linear = pts.length < 2 || hi.time / hi.size <= 1.5 * (lo.time / lo.size);
  return {
    id,
    figure,
    target: 'linear or better',
    measured: pts.map((p) => `${p.size}: ${Math.round(p.time)} ms, ${Math.round(p.mem)} MB`).join(' · '),
    pass: linear,
    data: { rows },
  };
}

/** The report of a run: the machine it ran on, its sizes, and what the benchmarks collected. */
export function assembleReport(sizes: BenchSizes, mode: string, out: Collected): BenchReport {
  const cpus = os.cpus();
  return {
    at: new Date().toISOString(),
    mode,
    machine: {
      cpus: cpus.length,
      model: cpus[0]?.model ?? 'unknown',
      memGb: Math.round(os.totalmem() / 1024 ** 3),
      node: process.version,
      note: `load average at end ${os
        .loadavg()
        .map((x) => x.toFixed(2))
        .join(' ')} (a shared machine is noisy)`,
    },
    sizes,
    figures: out.figures,
    invariants: out.invariants,
    growth: out.growth,
    raw: out.raw,
  };
}

/** The table as text. */
export function renderTable(report: BenchReport): string {
  const rows = report.figures.map((f) => [
    f.figure,
    f.target,
    f.measured,
    f.pass === null ? '—' : f.pass ? 'pass' : 'FAIL',
  ]);
  const head = ['figure', 'target', 'measured', 'result'];
  const md = [
    `| ${head.join(' | ')} |`,
    `|${head.map(() => '---').join('|')}|`,
    ...rows.map((r) => `| ${r.map((c) => c.replace(/\|/g, '/')).join(' | ')} |`),
  ];
  const m = report.machine;
  md.push(
    '',
    `Machine: ${m.cpus} × ${m.model}, ${m.memGb} GB, Node ${m.node}; ${m.note}. Mode: ${report.mode}.`,
  );
  return md.join('\n');
}
