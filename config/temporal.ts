/**
 * The Temporal connection every process needs (worker, intake, codec server, CLI, tests'
 * clients): address, namespace, task queue, TLS or API key, and the payload codec keys.
 */
import { z } from 'zod';
import { parseCodecKeys, type CodecKey } from '../common/codec';
import { parseEnv as parse, type RawEnv } from './errors';
import { bool, hostPort, setOrUnset } from './fields';

/** The Temporal variables; the other processes' schemas extend this one. */
export const temporalSchema = z.object({
  TEMPORAL_ADDRESS: hostPort.default('127.0.0.1:7233'),
  TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
  TEMPORAL_TASK_QUEUE: z.string().min(1).default('accubooks-runbooks'),
  TEMPORAL_TLS: bool.default(false),
  TEMPORAL_TLS_CERT_PATH: z.string().optional(),
  TEMPORAL_TLS_KEY_PATH: z.string().optional(),
  TEMPORAL_TLS_CA_PATH: z.string().optional(),
  TEMPORAL_TLS_SERVER_NAME: z.string().optional(),
  TEMPORAL_API_KEY: z.string().optional(),
  /** Encrypted history (common/codec.ts): `id1:base64key,id2:base64key`, the first encrypts. Unset = off. */
  PAYLOAD_CODEC_KEYS: z
    .string()
    .superRefine((v, ctx) => {
      for (const problem of parseCodecKeys(v).problems) ctx.addIssue({ code: 'custom', message: problem });
    })
    .optional(),
});

export interface TemporalConfig {
  address: string;
  namespace: string;
  taskQueue: string;
  tls?: { certPath?: string; keyPath?: string; caPath?: string; serverName?: string };
  apiKey?: string;
  /** Payload encryption keys, the active one first; absent = payloads stored in clear. */
  codecKeys?: CodecKey[];
}

export function temporalFrom(e: z.infer<typeof temporalSchema>): TemporalConfig {
  const tlsFiles = e.TEMPORAL_TLS_CERT_PATH || e.TEMPORAL_TLS_KEY_PATH || e.TEMPORAL_TLS_CA_PATH;
  return {
    address: e.TEMPORAL_ADDRESS,
    namespace: e.TEMPORAL_NAMESPACE,
    taskQueue: e.TEMPORAL_TASK_QUEUE,
    tls:
      e.TEMPORAL_TLS || tlsFiles || e.TEMPORAL_API_KEY
        ? {
            certPath: e.TEMPORAL_TLS_CERT_PATH,
            keyPath: e.TEMPORAL_TLS_KEY_PATH,
            caPath: e.TEMPORAL_TLS_CA_PATH,
            serverName: e.TEMPORAL_TLS_SERVER_NAME,
          }
        : undefined,
    apiKey: e.TEMPORAL_API_KEY,
    codecKeys: e.PAYLOAD_CODEC_KEYS ? parseCodecKeys(e.PAYLOAD_CODEC_KEYS).keys : undefined,
  };
}

/** The Temporal config as it may be logged: the API key set/unset, codec keys by ID only. */
export function describeTemporal(t: TemporalConfig): Record<string, unknown> {
  return { ...t, apiKey: setOrUnset(t.apiKey), codecKeys: t.codecKeys?.map((k) => k.id) ?? 'off' };
}

/** Config for processes that only talk to Temporal (CLI, intake, tests' clients). */
export function loadTemporalConfig(env: RawEnv = process.env): TemporalConfig {
  return temporalFrom(parse(temporalSchema, env));
}
