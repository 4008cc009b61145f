/** The benchmark worker's workflow bundle: every runbook plus the floor and gate workflows. */
export * from '../workflows';
export * from './floor-workflow';
