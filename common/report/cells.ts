/** Markdown table cells and times as the report writes them. */

/** A value as one table cell: one line, pipes escaped, at most 300 characters. */
export const cell = (v: unknown): string =>
  (typeof v === 'string' ? v : v === undefined || v === null ? '' : JSON.stringify(v))
    .replace(/\r?\n/g, ' ')
    .replace(/\|/g, '\\|')
    .slice(0, 300);

/** An ISO time as `2026-01-02 03:04:05Z` (no milliseconds); a dash when unset. */
export const time = (iso?: string) => (iso ? iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z') : '—');
