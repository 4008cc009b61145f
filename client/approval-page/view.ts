/**
 * The approval page as HTML: plain server-rendered markup, no JavaScript, readable on a 390×844
 * phone without zooming (16 px text, one column, full-width controls). Every value from the
 * workflow is escaped. It shows what the approver needs to decide, and the form, only while the
 * link's code is live.
 */
import { createHash } from 'node:crypto';
import type {
  ApprovalAttemptRecord,
  ApprovalCodeRecord,
  ApprovalGateRecord,
} from '../../definitions/approval';
import type { IncidentState } from '../../definitions/types';

const text = (v: unknown): string =>
  typeof v === 'string'
    ? v
    : typeof v === 'number' || typeof v === 'boolean'
      ? String(v)
      : v === null || v === undefined
        ? ''
        : JSON.stringify(v);

export const esc = (v: unknown): string =>
  text(v).replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!,
  );

const CSS = `
*{box-sizing:border-box}
body{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1a1a1a;background:#f4f4f4}
main{max-width:40rem;margin:0 auto;padding:1rem}
h1{font-size:1.4rem;margin:.25rem 0 .5rem}
h2{font-size:1.1rem;margin:1.25rem 0 .4rem}
section{background:#fff;border:1px solid #d0d0d0;border-radius:.5rem;padding:.75rem 1rem;margin:.75rem 0}
dl{margin:0}dt{font-weight:600}dd{margin:0 0 .4rem 0;overflow-wrap:anywhere}
.line{font-weight:700;font-size:1.1rem}
.notice{border-left:.4rem solid #8a5a00;background:#fff4df}
.ok{border-left:.4rem solid #1b6e20;background:#e8f5e9}
.bad{border-left:.4rem solid #a4161a;background:#fdecea}
table{width:100%;border-collapse:collapse;font-size:.95rem}
th,td{text-align:left;padding:.3rem .25rem;border-bottom:1px solid #e0e0e0;overflow-wrap:anywhere}
th{overflow-wrap:normal;white-space:nowrap}
ol{padding-left:1.25rem;margin:.25rem 0}li{margin:.2rem 0;overflow-wrap:anywhere}
label{display:block;font-weight:600;margin:.5rem 0 .25rem}
textarea{width:100%;min-height:6rem;font:inherit;padding:.5rem;border:1px solid #666;border-radius:.4rem}
.buttons{display:flex;gap:.75rem;margin-top:.75rem}
button{flex:1;font:inherit;font-weight:700;padding:.8rem;border-radius:.5rem;border:2px solid transparent;cursor:pointer;color:#fff}
.approve{background:#1b6e20}.reject{background:#a4161a}
small,.muted{color:#4a4a4a}
code{overflow-wrap:anywhere}
`;

/** The CSP allows exactly this stylesheet and nothing else (no script at all). */
export const STYLE_HASH = `'sha256-${createHash('sha256').update(CSS).digest('base64')}'`;

function layout(title: string, body: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="same-origin">
<title>${esc(title)}</title><style>${CSS}</style></head>
<body><main>${body}</main></body></html>`;
}

export function problemPage(title: string, message: string): string {
  return layout(
    title,
    `<h1>${esc(title)}</h1><section class="bad" role="alert"><p>${esc(message)}</p></section>`,
  );
}

/** What a gate is, in the runbook's words, and what each answer does. */
export function gateTexts(
  gate: ApprovalGateRecord,
  target: string,
): { line: string; onApprove: string; onReject: string } {
  const roles = gate.requiredRoles.join(' + ');
  switch (gate.gate) {
    case 'resume-billing':
      return {
        line: `Resume billing: ${roles} approval required`,
        onApprove: `Billing resumes on ${target}: billingConfig.enabled is set to true and the app is restarted to pick it up.`,
        onReject: 'Billing stays frozen; a later approval can still resume it.',
      };
    case 'restart-after-integrity-stop':
      return {
        line: `DO NOT restart without approval: ${roles} approval required`,
        onApprove: `${target} is started again and the hold on it is released.`,
        onReject: `${target} stays stopped and held; a later approval can still restart it.`,
      };
    case 'abandon':
      return {
        line: `Abandon the incident: ${roles} approval required`,
        onApprove: 'Automation and escalations of this incident stop for good.',
        onReject: 'The incident goes on as before.',
      };
    default:
      return {
        line: `${gate.what}: ${roles} approval required`,
        onApprove: gate.what,
        onReject: 'Nothing changes.',
      };
  }
}

const ZERO_DECIMAL = new Set(['jpy', 'krw', 'vnd', 'clp', 'pyg', 'isk', 'ugx', 'xaf', 'xof']);
/** Stripe amounts are in minor units. */
const money = (amount: unknown, currency: unknown) => {
  const cur = text(currency).toLowerCase();
  const n = Number(amount);
  if (!Number.isFinite(n)) return esc(amount);
  return `${(ZERO_DECIMAL.has(cur) ? n : n / 100).toFixed(ZERO_DECIMAL.has(cur) ? 0 : 2)} ${esc(cur.toUpperCase())}`;
};

function evidence(state: IncidentState): string {
  const parts: string[] = [];
  const c = state.checks;
  const refunds = Array.isArray(c.refunds) ? (c.refunds as Record<string, unknown>[]) : [];
  const reported = c.reported as { charges?: string[]; reportedBy?: string } | undefined;
  if (reported?.charges)
    parts.push(
      `<p>Reported charges: ${reported.charges.map((x) => `<code>${esc(x)}</code>`).join(', ') || 'none'}${reported.reportedBy ? ` (by ${esc(reported.reportedBy)})` : ''}</p>`,
    );
  if (refunds.length) {
    parts.push(`<table><caption class="muted">Refunds issued</caption>
<thead><tr><th scope="col">Charge</th><th scope="col">Refund</th><th scope="col">Amount</th><th scope="col">Status</th></tr></thead><tbody>
${refunds
  .map(
    (r) =>
      `<tr><td><code>${esc(r.charge)}</code></td><td><code>${esc(r.refundId)}</code></td><td>${money(r.amount, r.currency)}</td><td>${esc(r.status)}</td></tr>`,
  )
  .join('\n')}</tbody></table>`);
  }
  if (typeof c.violation === 'string') parts.push(`<p>Violation: ${esc(c.violation)}</p>`);
  const dump = c.evidence as { path?: string; bytes?: number; sha256?: string } | undefined;
  if (dump?.path) {
    parts.push(`<dl><dt>Database dump</dt><dd><code>${esc(dump.path)}</code></dd>
<dt>Size</dt><dd>${esc(dump.bytes)} bytes</dd><dt>SHA-256</dt><dd><code>${esc(dump.sha256)}</code></dd></dl>`);
  }
  if (c.appBilling !== undefined)
    parts.push(`<p>App billing status: <code>${esc(JSON.stringify(c.appBilling))}</code></p>`);
  return parts.length ? parts.join('\n') : '<p>No evidence recorded yet.</p>';
}

const who = (xs: { approver: string; roles: string[]; at: string; reason: string }[]) =>
  xs
    .map((x) => `<li>${esc(x.approver)} (${esc(x.roles.join('/'))}) at ${esc(x.at)}: ${esc(x.reason)}</li>`)
    .join('');

function decisions(gate: ApprovalGateRecord): string {
  const refused = gate.attempts.filter((a) => !a.accepted);
  return `<h2>Who decided</h2>
${gate.approvedBy.length ? `<p>Approved by:</p><ol>${who(gate.approvedBy)}</ol>` : '<p>No approval yet.</p>'}
${gate.rejections.length ? `<p>Rejected by:</p><ol>${who(gate.rejections)}</ol>` : ''}
${refused.length ? `<p>Refused attempts: ${refused.length} (latest: ${esc(refused.at(-1)!.approver)}: ${esc(refused.at(-1)!.refusedBecause)})</p>` : ''}`;
}

export function timeLeft(expiresAt: string, nowMs: number): string {
  const ms = Date.parse(expiresAt) - nowMs;
  if (ms <= 0) return `expired at ${expiresAt}`;
  const min = Math.floor(ms / 60_000);
  return `${min > 0 ? `${min} min ` : ''}${Math.floor((ms % 60_000) / 1000)} s left (until ${expiresAt})`;
}

export interface PageView {
  state: IncidentState;
  gate: ApprovalGateRecord;
  code: ApprovalCodeRecord;
  approver: string;
  nowMs: number;
  /** Set while the link's code is live and the gate open: the form's token. */
  formToken?: string;
  /** Why there is no form (used, expired, closed...). */
  closedBecause?: string;
  /** After a POST: the workflow's verdict on it. */
  verdict?: { accepted: boolean; text: string; attempt?: ApprovalAttemptRecord };
}

export function approvalPage(v: PageView): string {
  const { state, gate, code } = v;
  const t = gateTexts(gate, state.target);
  const verdict = v.verdict
    ? `<section class="${v.verdict.accepted ? 'ok' : 'bad'}" role="status" aria-live="polite"><h2>${v.verdict.accepted ? 'Accepted' : 'Refused'}</h2><p>${esc(v.verdict.text)}</p>${
        v.verdict.attempt
          ? `<p class="muted">Recorded by the workflow as attempt #${esc(v.verdict.attempt.n)} at ${esc(v.verdict.attempt.at)}.</p>`
          : ''
      }</section>`
    : '';
  const form = v.formToken
    ? `<section><h2>Your decision</h2>
<form method="post" autocomplete="off">
<input type="hidden" name="form" value="${esc(v.formToken)}">
<label for="reason">Reason (required)</label>
<textarea id="reason" name="reason" required maxlength="500"></textarea>
<div class="buttons">
<button class="approve" type="submit" name="decision" value="approve">Approve</button>
<button class="reject" type="submit" name="decision" value="reject">Reject</button>
</div>
<p class="muted"><small>Opening this page decided nothing. Only these buttons send your answer; the link then stops working.</small></p>
</form></section>`
    : v.closedBecause
      ? `<section class="notice" role="status"><p>${esc(v.closedBecause)}</p></section>`
      : '';
  const timeline = state.decisions.slice(-40);
  return layout(
    `${state.runbook} approval: ${state.target}`,
    `<h1>${esc(state.title)}</h1>
${verdict}
<section><p class="line">${esc(t.line)}</p>
<dl><dt>Incident</dt><dd>${esc(state.incidentId)} (${esc(state.severity)}, ${esc(state.status)})</dd>
<dt>You</dt><dd>${esc(code.name)} (${esc(v.approver)})</dd>
<dt>If you approve</dt><dd>${esc(t.onApprove)}</dd>
<dt>If you reject</dt><dd>${esc(t.onReject)}</dd>
<dt>Time left</dt><dd>${esc(code.status === 'live' ? timeLeft(code.expiresAt, v.nowMs) : `this link is ${code.status}`)}</dd>
<dt>Gate</dt><dd>${esc(gate.status)}</dd></dl></section>
<section><h2>Evidence</h2>${evidence(state)}</section>
<section>${decisions(gate)}</section>
${form}
<section><h2>Timeline</h2><ol>${timeline.map((d) => `<li>${esc(d)}</li>`).join('')}</ol>
${state.decisions.length > timeline.length ? `<p class="muted">Earlier entries: ${state.decisions.length - timeline.length} (see the Temporal UI).</p>` : ''}</section>`,
  );
}
