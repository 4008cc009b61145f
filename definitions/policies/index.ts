/** Each runbook's policy defaults, by runbook ID: what a trigger-time override is measured against. */
import { billingErrorDefaults } from './billing-error';
import { dataIntegrityDefaults } from './data-integrity';
import { highErrorRateDefaults } from './high-error-rate';
import { highLatencyDefaults } from './high-latency';
import { poolExhaustionDefaults } from './pool-exhaustion';
import { queueOverflowDefaults } from './queue-overflow';
import { systemDownDefaults } from './system-down';
import type { RunbookId } from '../types';

export const POLICY_DEFAULTS: Record<RunbookId, object> = {
  'P0-1': systemDownDefaults,
  'P0-2': poolExhaustionDefaults,
  'P0-3': billingErrorDefaults,
  'P0-4': dataIntegrityDefaults,
  'P1-1': highErrorRateDefaults,
  'P1-2': highLatencyDefaults,
  'P1-3': queueOverflowDefaults,
};
