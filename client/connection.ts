/** Temporal connections from config: the same code for the dev server, a cluster, or Temporal Cloud. */
import { readFileSync } from 'node:fs';
import { Client, Connection } from '@temporalio/client';
import type { TemporalConfig } from '../config/temporal';
import { dataConverterFor } from '../common/codec';

type TlsOptions = {
  clientCertPair?: { crt: Buffer; key: Buffer };
  serverRootCACertificate?: Buffer;
  serverNameOverride?: string;
};

export function tlsOptions(cfg: TemporalConfig): TlsOptions | undefined {
  if (!cfg.tls) return undefined;
  const { certPath, keyPath, caPath, serverName } = cfg.tls;
  return {
    clientCertPair:
      certPath && keyPath ? { crt: readFileSync(certPath), key: readFileSync(keyPath) } : undefined,
    serverRootCACertificate: caPath ? readFileSync(caPath) : undefined,
    serverNameOverride: serverName,
  };
}

export async function connectClient(cfg: TemporalConfig): Promise<Client> {
  const connection = await Connection.connect({
    address: cfg.address,
    tls: tlsOptions(cfg),
    apiKey: cfg.apiKey,
  });
  // With codec keys configured, every payload this client sends is encrypted (common/codec.ts).
  return new Client({ connection, namespace: cfg.namespace, dataConverter: dataConverterFor(cfg) });
}
