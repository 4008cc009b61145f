/**
 * Who owns incidents by default: the worker's INCIDENT_OWNERS (config), for the post-incident
 * follow-up when neither the incident's input nor the follow-up policy names owners. Workflows
 * cannot read configuration, so they ask this activity; the answer is recorded in history, so a
 * replay keeps the owners the follow-up started with even after the config changes.
 */
export interface OwnerDeps {
  incidentOwners?: readonly string[];
}

export const createOwnerActivities = (deps: OwnerDeps) => ({
  /** The configured owners' emails (empty when INCIDENT_OWNERS is unset). */
  incidentOwners(): Promise<string[]> {
    return Promise.resolve([...(deps.incidentOwners ?? [])]);
  },
});
