/** Every workflow the worker registers. The runbooks are `rehearsable`: a dry run ends with its plan (dry-run.ts). */
import { rehearsable } from './dry-run';
import { systemDown as systemDownRunbook } from './system-down';
import { poolExhaustion as poolExhaustionRunbook } from './pool-exhaustion';
import { highErrorRate as highErrorRateRunbook } from './high-error-rate';
import { highLatency as highLatencyRunbook } from './high-latency';
import { queueOverflow as queueOverflowRunbook } from './queue-overflow';
import { billingError as billingErrorRunbook } from './billing-error';
import { dataIntegrityViolation as dataIntegrityViolationRunbook } from './data-integrity';

export const systemDown = rehearsable(systemDownRunbook);
export const poolExhaustion = rehearsable(poolExhaustionRunbook);
export const highErrorRate = rehearsable(highErrorRateRunbook);
export const highLatency = rehearsable(highLatencyRunbook);
export const queueOverflow = rehearsable(queueOverflowRunbook);
export const billingError = rehearsable(billingErrorRunbook);
export const dataIntegrityViolation = rehearsable(dataIntegrityViolationRunbook);
export { postIncident } from './post-incident';
export { targetLease } from './target-guard';
export { gameDay } from './game-day';
