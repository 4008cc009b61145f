/**
 * Worker Versioning settings (issue 22): which Worker Deployment the worker belongs to and which
 * build it is. The build ID defaults to the package version and the git commit of the checkout the
 * worker runs from (`0.1.0+3f2a9c1d0e4b`, `-dirty` when the workflow code has uncommitted changes),
 * so two different workflow codes never share a build ID; an image or a CI job sets WORKER_BUILD_ID.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';

/** The Worker Deployment every runbook worker joins (one name per concept: the package's). */
export const DEPLOYMENT_NAME = 'accubooks-runbooks';

export const versioningSchema = z.object({
  /** on (production): versioned, incidents pinned to their build; off: an unversioned worker. */
  WORKER_VERSIONING: z.enum(['on', 'off'], { message: 'must be on or off' }).default('on'),
  WORKER_DEPLOYMENT_NAME: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$/, { message: 'must be letters, digits, _ . - (no : or /)' })
    .default(DEPLOYMENT_NAME),
  // Empty counts as unset: an image built without a BUILD_ID argument has WORKER_BUILD_ID="".
  WORKER_BUILD_ID: z.preprocess(
    (v) => (v === '' ? undefined : v),
    z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9_.+-]{0,99}$/, {
        message: 'must be letters, digits, _ . + - (no : or /)',
      })
      .optional(),
  ),
});

export interface VersioningConfig {
  enabled: boolean;
  deploymentName: string;
  buildId: string;
}

/** The checkout (or installed package) this code runs from: its package.json, its git commit. */
export const packageRoot = path.resolve(
  __dirname,
  '..',
  path.basename(path.resolve(__dirname, '..')) === 'dist' ? '..' : '.',
);

function git(args: string[]): string | undefined {
  try {
    return execFileSync('git', args, {
      cwd: packageRoot,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
  } catch {
    return undefined;
  }
}

/** `<package version>+<commit>[-dirty]`; `<version>+unknown` outside a git checkout. */
export function defaultBuildId(): string {
  const { version } = JSON.parse(readFileSync(path.join(packageRoot, 'package.json'), 'utf8')) as {
    version: string;
  };
  const commit = git(['rev-parse', '--short=12', 'HEAD']);
  if (!commit) return `${version}+unknown`;
  // Only what is bundled into the workflow code makes a different build.
  const dirty = git(['status', '--porcelain', '--', 'workflows', 'definitions']);
  return `${version}+${commit}${dirty ? '-dirty' : ''}`;
}

export function versioningFrom(e: z.infer<typeof versioningSchema>): VersioningConfig {
  return {
    enabled: e.WORKER_VERSIONING === 'on',
    deploymentName: e.WORKER_DEPLOYMENT_NAME,
    buildId: e.WORKER_BUILD_ID ?? defaultBuildId(),
  };
}
