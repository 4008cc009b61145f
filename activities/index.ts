/**
 * All activities, built from their outside systems. The worker hands in real clients; tests hand in
 * real clients pointed at the local stack. Workflows import only the type.
 */
import type Docker from 'dockerode';
import { createDockerActivities } from './docker';
import { createHealthActivities, type HealthDeps } from './health';
import { createNotificationActivities, type NotifyDeps } from './notify';

export interface ActivityDeps {
  docker: Docker;
  health: HealthDeps;
  notify: NotifyDeps;
}

export const createActivities = (deps: ActivityDeps) => ({
  ...createHealthActivities(deps.health),
  ...createDockerActivities({ docker: deps.docker }),
  ...createNotificationActivities(deps.notify),
});

export type Activities = ReturnType<typeof createActivities>;
