/**
 * Encrypted history: a payload codec (AES-256-GCM) so the Temporal server stores only ciphertext.
 *
 * Each encoded payload is `binary/encrypted` with the key's ID in its metadata, so keys rotate by ID:
 * the first configured key encrypts, every configured key decrypts. The clear payload (its metadata and
 * data) is serialized as JSON and sealed whole, so the server does not even learn its encoding.
 * Payloads that are not `binary/encrypted` (sent by a process without the codec: the Temporal UI's
 * "Send a Signal", the `temporal` CLI) pass through decode unchanged; the workflow validates them.
 *
 * Used by the client (connectClient), the worker (Worker.create), the intake (through connectClient)
 * and the codec server (client/codec-server.ts) that lets the UI show clear payloads.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { ApplicationFailure, type DataConverter, type Payload, type PayloadCodec } from '@temporalio/common';

export const ENCRYPTED_ENCODING = 'binary/encrypted';
export const KEY_ID_METADATA = 'encryption-key-id';
const IV_BYTES = 12;
const TAG_BYTES = 16;

export interface CodecKey {
  id: string;
  /** 32 bytes (AES-256). */
  key: Buffer;
}

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array | null | undefined) => (b ? Buffer.from(b).toString('utf8') : '');

/** Parses `id1:base64key,id2:base64key` (first = active); returns the problems instead of throwing. */
export function parseCodecKeys(raw: string): { keys: CodecKey[]; problems: string[] } {
  const keys: CodecKey[] = [];
  const problems: string[] = [];
  for (const [i, entry] of raw.split(',').entries()) {
    const m = /^([A-Za-z0-9_.-]{1,64}):([A-Za-z0-9+/=_-]+)$/.exec(entry.trim());
    if (!m) {
      problems.push(`entry ${i + 1} must be keyId:base64key`);
      continue;
    }
    const key = Buffer.from(m[2], 'base64');
    if (key.length !== 32) problems.push(`key ${m[1]} must be 32 bytes base64-encoded (got ${key.length})`);
    else if (keys.some((k) => k.id === m[1])) problems.push(`key ID ${m[1]} is repeated`);
    else keys.push({ id: m[1], key });
  }
  return { keys, problems };
}

/** A new random key in the config format, e.g. for the test stack. */
export function generateCodecKey(id: string): string {
  return `${id}:${randomBytes(32).toString('base64')}`;
}

function serialize(p: Payload): Buffer {
  const metadata = Object.fromEntries(
    Object.entries(p.metadata ?? {}).map(([k, v]) => [
      k,
      Buffer.from(v ?? new Uint8Array()).toString('base64'),
    ]),
  );
  return Buffer.from(
    JSON.stringify({ m: metadata, d: Buffer.from(p.data ?? new Uint8Array()).toString('base64') }),
  );
}

function deserialize(b: Buffer): Payload {
  const { m, d } = JSON.parse(b.toString('utf8')) as { m: Record<string, string>; d: string };
  return {
    metadata: Object.fromEntries(
      Object.entries(m).map(([k, v]) => [k, new Uint8Array(Buffer.from(v, 'base64'))]),
    ),
    data: new Uint8Array(Buffer.from(d, 'base64')),
  };
}

export class AesGcmCodec implements PayloadCodec {
  private readonly byId: Map<string, Buffer>;
  private readonly active: CodecKey;

  constructor(keys: CodecKey[]) {
    if (!keys.length) throw new Error('AesGcmCodec needs at least one key');
    this.active = keys[0]!;
    this.byId = new Map(keys.map((k) => [k.id, k.key]));
  }

  get activeKeyId(): string {
    return this.active.id;
  }

  encodeSync(p: Payload): Payload {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.active.key, iv);
    const sealed = Buffer.concat([iv, cipher.update(serialize(p)), cipher.final(), cipher.getAuthTag()]);
    return {
      metadata: { encoding: enc(ENCRYPTED_ENCODING), [KEY_ID_METADATA]: enc(this.active.id) },
      data: new Uint8Array(sealed),
    };
  }

  decodeSync(p: Payload): Payload {
    if (dec(p.metadata?.encoding) !== ENCRYPTED_ENCODING) return p;
    const id = dec(p.metadata?.[KEY_ID_METADATA]);
    const key = this.byId.get(id);
    if (!key) {
      throw ApplicationFailure.nonRetryable(
        `payload encrypted with unknown key ID "${id}"`,
        'CODEC_UNKNOWN_KEY',
      );
    }
    const data = Buffer.from(p.data ?? new Uint8Array());
    if (data.length < IV_BYTES + TAG_BYTES) {
      throw ApplicationFailure.nonRetryable('encrypted payload is too short', 'CODEC_BAD_PAYLOAD');
    }
    const decipher = createDecipheriv('aes-256-gcm', key, data.subarray(0, IV_BYTES));
    decipher.setAuthTag(data.subarray(data.length - TAG_BYTES));
    try {
      const clear = Buffer.concat([
        decipher.update(data.subarray(IV_BYTES, data.length - TAG_BYTES)),
        decipher.final(),
      ]);
      return deserialize(clear);
    } catch {
      throw ApplicationFailure.nonRetryable(
        `encrypted payload failed authentication (key ${id})`,
        'CODEC_BAD_PAYLOAD',
      );
    }
  }

  encode(payloads: Payload[]): Promise<Payload[]> {
    try {
      return Promise.resolve(payloads.map((p) => this.encodeSync(p)));
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
  }

  decode(payloads: Payload[]): Promise<Payload[]> {
    try {
      return Promise.resolve(payloads.map((p) => this.decodeSync(p)));
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
  }
}

/** The data converter for a process: the codec when keys are configured, else the SDK's default. */
export function dataConverterFor(cfg: { codecKeys?: CodecKey[] }): DataConverter | undefined {
  return cfg.codecKeys?.length ? { payloadCodecs: [new AesGcmCodec(cfg.codecKeys)] } : undefined;
}

/**
 * A history (or any proto object) with every encrypted payload in it decrypted, for code that reads
 * `fetchHistory()` output, which the SDK returns as stored. Payloads are recognised by their shape.
 */
export function decryptPayloadsIn<T>(value: T, codec: AesGcmCodec): T {
  const walk = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(walk);
    if (!v || typeof v !== 'object' || v instanceof Uint8Array) return v;
    const o = v as Record<string, unknown>;
    const meta = o.metadata as Record<string, unknown> | undefined;
    if (meta && meta.encoding instanceof Uint8Array && 'data' in o) return codec.decodeSync(o);
    for (const k of Object.keys(o)) o[k] = walk(o[k]);
    return o;
  };
  return walk(value) as T;
}
