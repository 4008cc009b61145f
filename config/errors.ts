/** What every process's configuration shares: the error that names each problem, and the parse. */
import type { z } from 'zod';

export type RawEnv = Record<string, string | undefined>;

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** Validates the variables `schema` names; one error lists every missing or invalid one. */
export function parseEnv<S extends z.ZodObject>(schema: S, env: RawEnv): z.infer<S> {
  // Empty strings count as unset, so `FOO=` in a shell file does not mask a default.
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const result = schema.safeParse(cleaned);
  if (!result.success) {
    throw new ConfigError(
      result.error.issues.map((issue) => {
        const name = issue.path.join('.');
        return cleaned[name] === undefined ? `${name} is missing` : `${name} ${issue.message}`;
      }),
    );
  }
  return result.data;
}
