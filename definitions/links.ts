/**
 * Links that arrive with an alert (Alertmanager's `externalURL`, Prometheus's `generatorURL`) are
 * shown in the incident's state, current details and report: only plain http(s) URLs are kept. They
 * are never fetched or followed by the project, only shown for a person to open. Checked again
 * wherever they are rendered: anyone can start a workflow or send a signal with any input.
 */
export const LINK_MAX_CHARS = 2048;

/** Why `v` is not a link to show, or undefined when it is one. */
export function linkProblem(v: unknown): string | undefined {
  if (typeof v !== 'string') return 'not a string';
  if (v.length > LINK_MAX_CHARS) return `longer than ${LINK_MAX_CHARS} characters`;
  // Scheme, then an authority without userinfo (a password in a link would reach every history).
  const m = /^(https?):\/\/([^/?#]*)/i.exec(v);
  if (!m) return 'not an http(s) URL';
  if (!m[2] || m[2].includes('@')) return 'no host, or credentials in the URL';
  // Whitespace, control characters, quotes and angle brackets would break out of a Markdown link.
  // eslint-disable-next-line no-control-regex
  if (/[\s\u0000-\u001f\u007f<>"'`\\]/.test(v)) return 'characters a URL must percent-encode';
  return undefined;
}

/** The link when it is one to show, else undefined. */
export const safeLink = (v: unknown): string | undefined => (linkProblem(v) ? undefined : (v as string));
