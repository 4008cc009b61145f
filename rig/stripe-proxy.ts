/**
 * A recording HTTP proxy in front of stripe-mock. stripe-mock is stateless (it answers every
 * refund with a canned object), so idempotency is proven by what the SDK sends: every request's
 * `Idempotency-Key` is recorded. It can also lose an answer (the refund reached Stripe, the
 * answer never reached the worker) or hold one until told, to force retries and restarts.
 *
 * With `{ stateful: true }` it is also a small stateful Stripe in front of the stateless mock
 * (`ledger`): it remembers each charge's amount and its refunds, answers reads of charges, payment
 * intents and refund lists from them, refunds what is left of a charge (or the amount asked), replays
 * a refund for a repeated idempotency key, and answers a refund of a fully refunded charge as Stripe
 * does: HTTP 400 `charge_already_refunded`. Stripe-mock still checks every request's shape.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ProxiedRequest {
  method: string;
  path: string;
  idempotencyKey?: string;
  body: string;
  answered: boolean;
}

type Match = (r: ProxiedRequest) => boolean;

export interface LedgerRefund {
  id: string;
  amount: number;
  /** Unix seconds, as Stripe writes it. */
  created: number;
  idempotencyKey?: string;
  /** Made by hand (the test), not through the API. */
  byHand: boolean;
}

export interface LedgerCharge {
  id: string;
  amount: number;
  currency: string;
  refunds: LedgerRefund[];
}

/** What the stateful stand-in remembers: charges (ch_/py_/pi_ alike) and their refunds. */
export interface StripeLedger {
  charges: Map<string, LedgerCharge>;
  /** A charge of this amount (smallest currency unit); unknown ones are 100 usd, as stripe-mock says. */
  setCharge(id: string, amount: number, currency?: string): LedgerCharge;
  /** A refund made outside the runbook (by hand in the dashboard): `amount` or all that is left. */
  refundByHand(id: string, amount?: number): LedgerRefund;
  refunded(id: string): number;
  /** Answers to refund requests that Stripe refused as already refunded. */
  alreadyRefundedAnswers: string[];
}

export interface StripeProxy {
  url: string;
  /** Present with `{ stateful: true }`. */
  ledger?: StripeLedger;
  requests: ProxiedRequest[];
  refunds(): ProxiedRequest[];
  /** The next matching request reaches stripe-mock, but its answer is lost (socket destroyed). */
  loseAnswer(match: Match): void;
  /** The next matching request reaches stripe-mock and its answer waits until `drop()` (then lost). */
  hold(match: Match): { arrived: Promise<void>; drop(): void };
  /** While true, Stripe is "down": every request's connection is reset before it goes upstream. */
  down: boolean;
  close(): Promise<void>;
}

function createLedger(): StripeLedger {
  const charges = new Map<string, LedgerCharge>();
  let n = 0;
  const ledger: StripeLedger = {
    charges,
    alreadyRefundedAnswers: [],
    setCharge(id, amount, currency = 'usd') {
      const c = { id, amount, currency, refunds: [] };
      charges.set(id, c);
      return c;
    },
    refundByHand(id, amount) {
      const c = charges.get(id) ?? ledger.setCharge(id, 100);
      const r = {
        id: `re_byhand${++n}`,
        amount: amount ?? c.amount - ledger.refunded(id),
        created: Math.floor(Date.now() / 1000),
        byHand: true,
      };
      c.refunds.push(r);
      return r;
    },
    refunded: (id) => (charges.get(id)?.refunds ?? []).reduce((sum, r) => sum + r.amount, 0),
  };
  return ledger;
}

type Answer = { status: number; body: unknown };
type Upstream = { status: number; body: Record<string, unknown> };

/** The ledger's answer to a request, or undefined to pass stripe-mock's (validated) answer on. */
function fromLedger(ledger: StripeLedger, rec: ProxiedRequest, upstream: Upstream): Answer | undefined {
  if (upstream.status >= 400) return undefined; // a malformed request stays stripe-mock's error
  const url = new URL(rec.path, 'http://stripe.local');
  const charge = /^\/v1\/charges\/([^/?]+)$/.exec(url.pathname);
  if (rec.method === 'GET' && charge) return readCharge(ledger, decodeURIComponent(charge[1]), upstream);
  const intent = /^\/v1\/payment_intents\/([^/?]+)$/.exec(url.pathname);
  if (rec.method === 'GET' && intent)
    return readPaymentIntent(ledger, decodeURIComponent(intent[1]), upstream);
  if (url.pathname !== '/v1/refunds') return undefined;
  if (rec.method === 'GET') return listRefunds(ledger, url, upstream);
  if (rec.method !== 'POST') return undefined;
  return createRefund(ledger, rec, upstream);
}

const ledgerCharge = (ledger: StripeLedger, id: string): LedgerCharge =>
  ledger.charges.get(id) ?? ledger.setCharge(id, 100);

// A list's items are built from scratch (stripe-mock's list holds its own canned refund).
const asRefund = (upstream: Upstream, c: LedgerCharge, r: LedgerRefund) => ({
  ...(upstream.body.object === 'refund' ? upstream.body : {}),
  id: r.id,
  created: r.created,
  object: 'refund',
  amount: r.amount,
  currency: c.currency,
  charge: c.id.startsWith('pi_') ? null : c.id,
  payment_intent: c.id.startsWith('pi_') ? c.id : null,
  status: 'succeeded',
});

function readCharge(ledger: StripeLedger, id: string, upstream: Upstream): Answer {
  const c = ledgerCharge(ledger, id);
  const refunded = ledger.refunded(c.id);
  return {
    status: 200,
    body: {
      ...upstream.body,
      id: c.id,
      amount: c.amount,
      amount_captured: c.amount,
      amount_refunded: refunded,
      refunded: refunded >= c.amount,
      currency: c.currency,
    },
  };
}

function readPaymentIntent(ledger: StripeLedger, id: string, upstream: Upstream): Answer {
  const c = ledgerCharge(ledger, id);
  // No separate charge object: the intent is its own ledger entry.
  return {
    status: 200,
    body: {
      ...upstream.body,
      id: c.id,
      amount: c.amount,
      amount_received: c.amount,
      currency: c.currency,
      latest_charge: null,
    },
  };
}

function listRefunds(ledger: StripeLedger, url: URL, upstream: Upstream): Answer {
  const id = url.searchParams.get('charge') ?? url.searchParams.get('payment_intent');
  const c = id ? ledger.charges.get(id) : undefined;
  const data = c ? [...c.refunds].reverse().map((r) => asRefund(upstream, c, r)) : [];
  return { status: 200, body: { ...upstream.body, data, has_more: false } };
}

function createRefund(ledger: StripeLedger, rec: ProxiedRequest, upstream: Upstream): Answer | undefined {
  const form = new URLSearchParams(rec.body);
  const id = form.get('charge') ?? form.get('payment_intent');
  if (!id) return undefined;
  const c = ledgerCharge(ledger, id);
  // The same key answers with the same refund (what Stripe's idempotency promises).
  const earlier = rec.idempotencyKey
    ? c.refunds.find((r) => r.idempotencyKey === rec.idempotencyKey)
    : undefined;
  if (earlier) return { status: 200, body: asRefund(upstream, c, earlier) };
  const left = c.amount - ledger.refunded(id);
  if (left <= 0) {
    ledger.alreadyRefundedAnswers.push(id);
    return {
      status: 400,
      body: {
        error: {
          type: 'invalid_request_error',
          code: 'charge_already_refunded',
          message: `Charge ${id} has already been refunded.`,
        },
      },
    };
  }
  const asked = form.get('amount');
  const amount = asked ? Math.min(Number(asked), left) : left;
  const r: LedgerRefund = {
    id: `re_ledger${c.refunds.length + 1}_${id}`,
    amount,
    created: Math.floor(Date.now() / 1000),
    idempotencyKey: rec.idempotencyKey,
    byHand: false,
  };
  c.refunds.push(r);
  return { status: 200, body: asRefund(upstream, c, r) };
}

interface Hold {
  match: Match;
  arrived: () => void;
  dropped: Promise<void>;
}

/** What the proxy does with a request besides forwarding it. */
interface ProxyState {
  upstream: string;
  ledger?: StripeLedger;
  requests: ProxiedRequest[];
  lose: Match[];
  holds: Hold[];
  isDown(): boolean;
}

const FORWARDED_HEADERS = [
  'authorization',
  'content-type',
  'idempotency-key',
  'stripe-version',
  'user-agent',
];

async function handleRequest(
  state: ProxyState,
  req: IncomingMessage,
  res: ServerResponse,
  body: string,
): Promise<void> {
  const rec: ProxiedRequest = {
    method: req.method ?? 'GET',
    path: req.url ?? '/',
    idempotencyKey: req.headers['idempotency-key'] as string | undefined,
    body,
    answered: false,
  };
  state.requests.push(rec);
  if (state.isDown()) {
    req.socket.destroy();
    return;
  }
  const answer = await forward(state, req, rec);
  if (await answerLost(state, rec)) {
    req.socket.destroy();
    return;
  }
  rec.answered = true;
  res.writeHead(answer.status, { 'content-type': answer.contentType });
  res.end(answer.text);
}

/** Sends the request on to stripe-mock; the ledger (when stateful) may replace its answer. */
async function forward(
  state: ProxyState,
  req: IncomingMessage,
  rec: ProxiedRequest,
): Promise<{ status: number; text: string; contentType: string }> {
  const headers: Record<string, string> = {};
  for (const h of FORWARDED_HEADERS) {
    const v = req.headers[h];
    if (typeof v === 'string') headers[h] = v;
  }
  const up = await fetch(`${state.upstream}${rec.path}`, {
    method: rec.method,
    headers,
    body: rec.method === 'GET' ? undefined : rec.body,
  });
  let text = await up.text();
  let status = up.status;
  if (state.ledger) {
    const answer = fromLedger(state.ledger, rec, {
      status: up.status,
      body: (JSON.parse(text) ?? {}) as Record<string, unknown>,
    });
    if (answer) {
      status = answer.status;
      text = JSON.stringify(answer.body);
    }
  }
  return { status, text, contentType: up.headers.get('content-type') ?? 'application/json' };
}

/** True when the answer is to be lost: the next loseAnswer match, or a hold once it is dropped. */
async function answerLost(state: ProxyState, rec: ProxiedRequest): Promise<boolean> {
  const li = state.lose.findIndex((m) => m(rec));
  if (li >= 0) {
    state.lose.splice(li, 1);
    return true;
  }
  const hi = state.holds.findIndex((h) => h.match(rec));
  if (hi >= 0) {
    const [h] = state.holds.splice(hi, 1);
    h.arrived();
    await h.dropped;
    return true;
  }
  return false;
}

export async function startStripeProxy(
  upstream: string,
  opts: { stateful?: boolean } = {},
): Promise<StripeProxy> {
  const state: ProxyState = {
    upstream,
    ledger: opts.stateful ? createLedger() : undefined,
    requests: [],
    lose: [],
    holds: [],
    isDown: () => proxy.down,
  };
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString();
      handleRequest(state, req, res, body).catch(() => req.socket.destroy());
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  const { requests } = state;
  const proxy: StripeProxy = {
    url: `http://127.0.0.1:${port}`,
    ledger: state.ledger,
    down: false,
    requests,
    refunds: () => requests.filter((r) => r.method === 'POST' && r.path.startsWith('/v1/refunds')),
    loseAnswer: (m) => state.lose.push(m),
    hold(match) {
      let arrived!: () => void;
      let drop!: () => void;
      const arrivedP = new Promise<void>((r) => (arrived = r));
      const dropped = new Promise<void>((r) => (drop = r));
      state.holds.push({ match, arrived, dropped });
      return { arrived: arrivedP, drop };
    },
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
  return proxy;
}
