/**
 * Where a game day may inject faults: GAMEDAY_TARGETS, comma-separated `container=faultApiUrl`
 * pairs, e.g. `accubooks-sandbox=http://127.0.0.1:8080`. Unset (production's default): there is
 * no game-day target and every game day is refused. The worker checks it before each injection
 * (a schedule may outlive a config change); the CLI checks it before it creates a schedule.
 * scripts/stack.sh names the stack's sandbox API.
 */
import { ConfigError, type RawEnv } from './errors';

export interface GameDayConfig {
  /** Target container name → base URL of its sandbox API (the fault routes live there). */
  targets: Record<string, string>;
  /**
   * GAMEDAY_WORKER_KILL=true: this worker runs a game day's worker kill, on itself (SIGKILL), so a
   * game day can show that an incident survives losing a worker. Off by default: a worker without
   * it refuses the kill.
   */
  workerKill: boolean;
}

const NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$/;

export function loadGameDayConfig(env: RawEnv = process.env): GameDayConfig {
  const raw = env.GAMEDAY_TARGETS?.trim() ?? '';
  const targets: Record<string, string> = {};
  const problems: string[] = [];
  for (const pair of raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const eq = pair.indexOf('=');
    const name = pair.slice(0, eq);
    const url = pair.slice(eq + 1);
    if (eq < 1 || !NAME.test(name)) {
      problems.push(
        `GAMEDAY_TARGETS entry "${pair}" must be container=url (a container name, then its API URL)`,
      );
      continue;
    }
    let parsed: URL | undefined;
    try {
      parsed = new URL(url);
    } catch {
      parsed = undefined;
    }
    if (!parsed || !['http:', 'https:'].includes(parsed.protocol) || parsed.username || parsed.password) {
      problems.push(
        `GAMEDAY_TARGETS entry for ${name} has "${url}": must be an http(s) URL without credentials`,
      );
      continue;
    }
    targets[name] = url.replace(/\/+$/, '');
  }
  const kill = env.GAMEDAY_WORKER_KILL?.trim() || 'false';
  if (!['true', 'false'].includes(kill))
    problems.push(`GAMEDAY_WORKER_KILL must be true or false, not "${kill}"`);
  if (problems.length) throw new ConfigError(problems);
  return { targets, workerKill: kill === 'true' };
}
