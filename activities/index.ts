/**
 * All activities, built from their outside systems. The worker hands in real clients; tests hand in
 * real clients pointed at the local stack. Workflows import only the type.
 */
import type Docker from 'dockerode';
import type { Pool } from 'pg';
import type { Redis } from 'ioredis';
import type Stripe from 'stripe';
import { createDockerActivities } from './docker';
import { createHealthActivities, type HealthDeps } from './health';
import { createNotificationActivities, type NotifyDeps } from './notify';

export interface ActivityDeps {
  docker: Docker;
  /** The runbook role's pool on the application database (pg_stat_activity, terminate, billing store). */
  pg: Pool;
  redis: Redis;
  stripe: Stripe;
  /** Same database, for tools that take a connection (pg_dump gets it through the environment). */
  postgresUrl: string;
  pgBinDir: string;
  prometheusUrl?: string;
  evidenceDir: string;
  health: HealthDeps;
  notify: NotifyDeps;
}

export const createActivities = (deps: ActivityDeps) => ({
  ...createHealthActivities(deps.health),
  ...createDockerActivities({ docker: deps.docker }),
  ...createNotificationActivities(deps.notify),
});

export type Activities = ReturnType<typeof createActivities>;
