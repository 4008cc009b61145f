/**
 * Durations in the words the runbook uses ("15 minutes"), exact when a policy is compressed to
 * seconds for a game day ("6 seconds", never "0 minutes").
 */
export const minutes = (ms: number): string =>
  ms === 60_000
    ? '1 minute'
    : ms % 60_000 === 0
      ? `${ms / 60_000} minutes`
      : `${Math.round(ms / 1000)} seconds`;

/** An elapsed time, rounded to what a person reads: seconds under 2 minutes, then minutes. */
export const elapsed = (ms: number): string =>
  ms < 120_000 ? `${Math.round(ms / 1000)} seconds` : `${Math.round(ms / 60_000)} minutes`;
