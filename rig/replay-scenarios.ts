/**
 * The main paths of every runbook, as scenarios the recorder (scripts/record-histories.ts) runs on
 * the time-skipping server with real activities, saving each workflow's history as a JSON fixture
 * in test/fixtures/histories/. The replay test replays every fixture in that folder against the
 * current workflow code, so a change that would break a running incident fails the test command.
 *
 * To cover a new runbook path: add a scenario to its runbook's file in rig/scenarios/ (unique
 * `name`, prefixed with the runbook ID), then run `npm run build && node dist/scripts/record-histories.js <name-prefix>`.
 */
import { APPROVAL_GATED_SCENARIOS } from './scenarios/approval-gated';
import type { Scenario } from './scenarios/kit';
import { METRIC_RUNBOOK_SCENARIOS } from './scenarios/metric-runbooks';
import { POOL_EXHAUSTION_SCENARIOS } from './scenarios/pool-exhaustion';
import { POST_INCIDENT_SCENARIOS } from './scenarios/post-incident';
import { SYSTEM_DOWN_SCENARIOS } from './scenarios/system-down';

/** Every scenario, in the order the recorder runs them. */
export const SCENARIOS: Scenario[] = [
  ...SYSTEM_DOWN_SCENARIOS,
  ...POST_INCIDENT_SCENARIOS,
  ...POOL_EXHAUSTION_SCENARIOS,
  ...APPROVAL_GATED_SCENARIOS,
  ...METRIC_RUNBOOK_SCENARIOS,
];
