/** Every workflow the worker registers. */
export { systemDown } from './system-down';
export { postIncident } from './post-incident';
export { poolExhaustion } from './pool-exhaustion';
export { highErrorRate } from './high-error-rate';
export { highLatency } from './high-latency';
export { queueOverflow } from './queue-overflow';
export { billingError } from './billing-error';
export { dataIntegrityViolation } from './data-integrity';
export { targetLease } from './target-guard';
export { gameDay } from './game-day';
