/**
 * Real activity dependencies for tests: the worker's own client builder pointed at the local stack,
 * with the test's own sandbox URLs and notification receivers. Close them in afterAll.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadWorkerConfig } from '../config/worker';
import type { ActivityDeps } from '../activities';
import { buildClients, type WorkerClients } from '../worker/clients';

export function testClients(
  overrides: Partial<ActivityDeps> = {},
  env: Record<string, string> = {},
): WorkerClients {
  const clients = buildClients(
    loadWorkerConfig({
      ...process.env,
      EVIDENCE_DIR: mkdtempSync(path.join(tmpdir(), 'abk-evidence-')),
      ...env,
    }),
  );
  Object.assign(clients.deps, overrides);
  return clients;
}
