/**
 * One JSON object per line: INFO/WARN to stdout, ERROR/FATAL to stderr. These lines are the
 * container's logs, which the runbooks read through the Docker API.
 */
export type LogLevel = 'INFO' | 'WARN' | 'ERROR' | 'FATAL';

export type LogFields = Record<string, unknown>;

export interface Logger {
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  fatal(msg: string, fields?: LogFields): void;
}

export function createLogger(base: LogFields): Logger {
  const write = (level: LogLevel, msg: string, fields?: LogFields): void => {
    const line = JSON.stringify({ ts: new Date().toISOString(), level, msg, ...base, ...fields }) + '\n';
    if (level === 'ERROR' || level === 'FATAL') process.stderr.write(line);
    else process.stdout.write(line);
  };
  return {
    info: (msg, fields) => write('INFO', msg, fields),
    warn: (msg, fields) => write('WARN', msg, fields),
    error: (msg, fields) => write('ERROR', msg, fields),
    fatal: (msg, fields) => write('FATAL', msg, fields),
  };
}

export function errorMessage(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return typeof code === 'string' && !err.message.includes(code) ? `${err.message} (${code})` : err.message;
  }
  return String(err);
}
