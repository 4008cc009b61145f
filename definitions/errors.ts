/**
 * Failure types every activity uses, in one place, so retry policies and workflows can name them.
 * Non-retryable: retrying cannot help (the thing does not exist, the input is wrong).
 */
import { ApplicationFailure } from '@temporalio/common';

export const FailureType = {
  ContainerNotFound: 'CONTAINER_NOT_FOUND',
  UnknownTarget: 'UNKNOWN_TARGET',
  InvalidInput: 'INVALID_INPUT',
  NotificationFailed: 'NOTIFICATION_FAILED',
  DependencyUnavailable: 'DEPENDENCY_UNAVAILABLE',
  ActionRefused: 'ACTION_REFUSED',
} as const;

export type FailureTypeName = (typeof FailureType)[keyof typeof FailureType];

export const nonRetryable = (type: FailureTypeName, message: string, details?: unknown): ApplicationFailure =>
  ApplicationFailure.nonRetryable(message, type, ...(details === undefined ? [] : [details]));

export const retryable = (type: FailureTypeName, message: string, cause?: Error): ApplicationFailure =>
  ApplicationFailure.create({ message, type, nonRetryable: false, cause });

/** Error text safe to put in history: first line, bounded, secrets masked. */
export function describeError(err: unknown): string {
  const text =
    err instanceof Error ? `${err.name === 'Error' ? '' : err.name + ': '}${err.message}` : String(err);
  return redact(text.split('\n')[0] ?? '').slice(0, 300);
}

const secretPatterns: [RegExp, string][] = [
  [/\b(sk|rk|pk)_(live|test)_[A-Za-z0-9]+/g, '$1_$2_***'],
  [/(\w+:\/\/[^:/\s]+:)[^@\s]+@/g, '$1***@'],
  [
    /\b(password|passwd|pwd|secret|token|api[_-]?key|authorization)(["']?\s*[:=]\s*["']?)[^\s"',;]+/gi,
    '$1$2***',
  ],
  [/\bBearer\s+[A-Za-z0-9._~+/-]+=*/g, 'Bearer ***'],
];

/** Masks credentials in free text (log lines, error messages) before it can reach history. */
export function redact(text: string): string {
  return secretPatterns.reduce((t, [re, by]) => t.replace(re, by), text);
}
