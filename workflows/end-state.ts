/** How a runbook verifies its end state, so that a person's `resolve` counts only when it holds. */

/** The runbook's own check of its end state: a person's `resolve` counts only when it passes. */
export type EndStateCheck = () => Promise<{ ok: boolean; detail: string }>;

/**
 * A metric runbook's end state: one measurement, at or under its healthy line (`inclusive`) or under
 * it. No data verifies nothing.
 */
export function metricEndState(
  describe: (v: number) => string,
  sample: () => Promise<{ value: number | null }>,
  line: number,
  inclusive = false,
): EndStateCheck {
  return async () => {
    const { value } = await sample();
    if (value === null) return { ok: false, detail: 'the metric has no data: nothing verifies the claim' };
    const ok = inclusive ? value <= line : value < line;
    return { ok, detail: `${describe(value)} (healthy: ${inclusive ? '≤' : '<'} ${describe(line)})` };
  };
}
