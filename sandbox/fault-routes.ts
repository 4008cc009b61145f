/**
 * /api/sandbox/faults: list, inject (POST a fault spec) and clear (DELETE, optionally
 * `?fault=name`). Faults marked `persist` are saved for this instance and re-applied at start.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { SandboxConfig } from './config';
import { FAULT_NAMES, parseFaultSpec, type FaultName, type FaultRegistry, type FaultStore } from './faults';
import { HttpError, readJson, send, type Ctx } from './http';
import { errorMessage } from './log';

export interface FaultRoutesDeps {
  config: SandboxConfig;
  faults: FaultRegistry;
  store: FaultStore;
}

export function faultsView({ config, faults }: FaultRoutesDeps): Record<string, unknown> {
  return {
    instance: config.instance,
    role: config.role,
    faults: faults.list(),
    known: FAULT_NAMES,
  };
}

export async function injectFault(
  deps: FaultRoutesDeps,
  req: IncomingMessage,
  res: ServerResponse,
  ctx: Ctx,
): Promise<void> {
  const parsed = parseFaultSpec(await readJson(req));
  if (!parsed.ok) throw new HttpError(400, parsed.error);
  const spec = parsed.spec;
  const wasPersisted = deps.faults.get(spec.fault)?.persist === true;
  const { entry, details } = await deps.faults.inject(spec);
  if (spec.persist === true || wasPersisted) await savePersisted(deps, ctx);
  send(res, spec.fault === 'crash' ? 202 : 200, { applied: entry, ...details, ...faultsView(deps) });
}

export async function clearFaults(deps: FaultRoutesDeps, res: ServerResponse, url: URL): Promise<void> {
  const name = url.searchParams.get('fault');
  if (name !== null && !(FAULT_NAMES as readonly string[]).includes(name)) {
    throw new HttpError(400, `unknown fault '${name}' (known faults: ${FAULT_NAMES.join(', ')})`);
  }
  const removed = await deps.faults.remove((name as FaultName | null) ?? undefined);
  // Clearing everything also drops what is persisted for this instance, even if not active here.
  if (name === null || removed.some((s) => s.persist === true))
    await deps.store.save(deps.faults.persisted());
  send(res, 200, { cleared: removed.map((s) => s.fault), ...faultsView(deps) });
}

async function savePersisted(deps: FaultRoutesDeps, ctx: Ctx): Promise<void> {
  try {
    await deps.store.save(deps.faults.persisted());
  } catch (err) {
    ctx.error = `cannot persist faults: ${errorMessage(err)}`;
    throw new HttpError(500, ctx.error);
  }
}
