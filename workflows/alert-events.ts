/** The `alert` signal's payload, checked: anyone can send one from the UI or the CLI. */
/** Why an `alert` signal payload cannot be used, or undefined when it is well-formed. */
export function alertEventProblem(event: unknown): string | undefined {
  if (typeof event !== 'object' || event === null || Array.isArray(event)) return 'expected a JSON object';
  const e = event as Record<string, unknown>;
  if (e.status !== 'firing' && e.status !== 'resolved') return '"status" must be "firing" or "resolved"';
  if (e.receivedAt !== undefined && typeof e.receivedAt !== 'string') return '"receivedAt" must be a string';
  if (e.values !== undefined) {
    if (typeof e.values !== 'object' || e.values === null || Array.isArray(e.values)) {
      return '"values" must be an object of numbers or strings';
    }
    if (!Object.values(e.values).every((v) => typeof v === 'number' || typeof v === 'string')) {
      return '"values" must be an object of numbers or strings';
    }
  }
  if (e.count !== undefined) {
    const c = e.count as Record<string, unknown>;
    const n = (v: unknown) => typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 1_000_000_000;
    if (
      typeof c !== 'object' ||
      c === null ||
      !n(c.firing) ||
      !n(c.resolved) ||
      !((c.firing as number) + (c.resolved as number) > 0)
    ) {
      return '"count" must be {"firing": n, "resolved": n} with whole numbers >= 0, not both 0';
    }
  }
  if (
    e.truncatedAlerts !== undefined &&
    !(typeof e.truncatedAlerts === 'number' && Number.isInteger(e.truncatedAlerts) && e.truncatedAlerts >= 0)
  ) {
    return '"truncatedAlerts" must be a whole number >= 0';
  }
  return undefined;
}
