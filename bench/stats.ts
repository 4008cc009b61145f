/** Small statistics for the benchmark table: medians with spread, percentiles. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank];
}

export const median = (values: number[]) => percentile(values, 50);

export interface Spread {
  median: number;
  min: number;
  max: number;
  n: number;
}

export function spread(values: number[]): Spread {
  return {
    median: median(values),
    min: values.length ? Math.min(...values) : NaN,
    max: values.length ? Math.max(...values) : NaN,
    n: values.length,
  };
}

export const round = (v: number, digits = 1) => Math.round(v * 10 ** digits) / 10 ** digits;

export function fmtSpread(s: Spread, unit: string, digits = 1): string {
  if (s.n === 0 || Number.isNaN(s.median)) return 'n/a';
  if (s.n === 1) return `${round(s.median, digits)} ${unit}`;
  return `${round(s.median, digits)} ${unit} (${round(s.min, digits)}–${round(s.max, digits)}, n=${s.n})`;
}
