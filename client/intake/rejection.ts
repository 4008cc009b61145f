/**
 * How the intake refuses a request: a status, a short code and a message that names the problem,
 * always with `started: 0` (a rejected request never starts anything). The request's checks come in
 * the order in which a caller can fix things: auth, then JSON, then shape.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { z } from 'zod';
import { authenticate, type AuthSettings } from './auth';
import { describeIssues } from './schema';

export class Rejection extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly problems?: string[],
    readonly extra?: Record<string, unknown>,
  ) {
    super(message);
  }
}

/** Each request's outcome, for the request metrics (client/intake/server.ts). */
export const outcomeOf = new WeakMap<FastifyRequest, string>();

export function reject(req: FastifyRequest, reply: FastifyReply, r: Rejection) {
  outcomeOf.set(req, r.code);
  if (r.status === 401) reply.header('www-authenticate', 'Bearer realm="accubooks-intake"');
  return reply.code(r.status).send({
    error: r.code,
    message: r.message,
    ...(r.problems ? { problems: r.problems } : {}),
    ...r.extra,
    started: 0,
  });
}

/** A route handler whose Rejections become answers; any other error goes to the error handler. */
export const guarded =
  (fn: (req: FastifyRequest, reply: FastifyReply) => Promise<unknown>) =>
  async (req: FastifyRequest, reply: FastifyReply) => {
    try {
      return await fn(req, reply);
    } catch (err) {
      if (err instanceof Rejection) return reject(req, reply, err);
      throw err;
    }
  };

/** Auth, then JSON, then shape: the order in which a caller can fix things. */
export function parseBody<S extends z.ZodType>(
  auth: AuthSettings,
  req: FastifyRequest,
  schema: S,
  what: string,
): z.infer<S> {
  const raw = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
  const checked = authenticate(auth, req.headers, raw);
  if (!checked.ok) throw new Rejection(401, 'unauthorized', checked.problem);
  if (raw.length === 0) {
    throw new Rejection(
      400,
      'malformed',
      `empty body: send ${what} as JSON with Content-Type: application/json`,
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(raw.toString('utf8'));
  } catch (err) {
    throw new Rejection(400, 'malformed', `malformed JSON: ${(err as Error).message}`);
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    const problems = describeIssues(parsed.error);
    throw new Rejection(422, 'invalid', `wrong shape for ${what}: ${problems.join('; ')}`, problems);
  }
  return parsed.data;
}
