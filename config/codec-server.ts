/** The codec server's config (client/codec-server.ts). */
import { z } from 'zod';
import type { CodecKey } from '../common/codec';
import { ConfigError, parseEnv as parse, type RawEnv } from './errors';
import { bool, port } from './fields';
import { loadTemporalConfig } from './temporal';

const codecServerSchema = z.object({
  CODEC_SERVER_HOST: z.string().min(1).default('127.0.0.1'),
  CODEC_SERVER_PORT: port.default(8888),
  /**
   * The one secret: the CLI sends `Authorization: Bearer <token>`; a person types it once into the
   * server's sign-in form (GET /) and gets a session cookie for the Web UI. The server never runs open.
   */
  CODEC_SERVER_TOKEN: z.string().min(16, { message: 'must be at least 16 characters' }),
  /** Browser origins allowed by CORS (the Temporal UI's), comma-separated. */
  CODEC_SERVER_CORS_ORIGINS: z.string().default('http://localhost:8233'),
  /** How long a browser sign-in lasts. */
  CODEC_SERVER_SESSION_HOURS: z.coerce
    .number()
    .positive()
    .max(24 * 30)
    .default(12),
  /** Mark the session cookie `Secure` (set it when the server is reached over https). */
  CODEC_SERVER_COOKIE_SECURE: bool.default(false),
});

export interface CodecServerConfig {
  host: string;
  port: number;
  token: string;
  corsOrigins: string[];
  codecKeys: CodecKey[];
  sessionHours: number;
  cookieSecure: boolean;
}

/** Config for the codec server: the same keys as every other process, plus its own listen and auth. */
export function loadCodecServerConfig(env: RawEnv = process.env): CodecServerConfig {
  const e = parse(codecServerSchema, env);
  const { codecKeys } = loadTemporalConfig(env);
  if (!codecKeys?.length)
    throw new ConfigError(['PAYLOAD_CODEC_KEYS is missing (the codec server has nothing to do)']);
  return {
    host: e.CODEC_SERVER_HOST,
    port: e.CODEC_SERVER_PORT,
    token: e.CODEC_SERVER_TOKEN,
    corsOrigins: e.CODEC_SERVER_CORS_ORIGINS.split(',')
      .map((o) => o.trim())
      .filter(Boolean),
    codecKeys,
    sessionHours: e.CODEC_SERVER_SESSION_HOURS,
    cookieSecure: e.CODEC_SERVER_COOKIE_SECURE,
  };
}
