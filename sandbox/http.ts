/**
 * The sandbox's HTTP vocabulary: its routes, the error that carries a status code, the
 * per-request context the access log reads, and the JSON reply and body helpers.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

export const ROUTES = {
  health: '/api/monitoring/health',
  poolConfig: '/api/monitoring/pool-config',
  metrics: '/metrics',
  work: '/api/work',
  faults: '/api/sandbox/faults',
  billingStatus: '/api/billing/status',
  billingCharge: '/api/billing/charge',
} as const;

/** Routes of the application itself: these stop answering while the hang fault is on. */
export const APP_ROUTES = new Set<string>([
  ROUTES.health,
  ROUTES.poolConfig,
  ROUTES.work,
  ROUTES.billingStatus,
  ROUTES.billingCharge,
]);

const MAX_BODY_BYTES = 1024 * 1024;

export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** Per-request context: the route label and the error that failed it (for the log line). */
export interface Ctx {
  route: string;
  error?: string;
}

export function send(
  res: ServerResponse,
  status: number,
  body: unknown,
  contentType = 'application/json',
): void {
  const text = contentType === 'application/json' ? JSON.stringify(body) : String(body);
  res.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

export async function readJson(req: IncomingMessage, optional = false): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buf = chunk as Buffer;
    size += buf.length;
    if (size > MAX_BODY_BYTES) throw new HttpError(413, 'request body too large');
    chunks.push(buf);
  }
  const text = Buffer.concat(chunks).toString('utf8').trim();
  if (text === '') {
    if (optional) return {};
    throw new HttpError(400, 'request body must be a JSON object');
  }
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new HttpError(400, 'request body is not valid JSON');
  }
}
