/**
 * The measured rules of P1-1 and P1-3 at their boundaries (pure functions, no Temporal): "restart if
 * needed", "growing rapidly", and the streak that "remains" and "holds for the window" are built on.
 * The workflows prove the same rules end to end against real services.
 */
import { restartNeeded } from '../../workflows/high-error-rate';
import { growth, Streak } from '../../workflows/verify-loop';
import { queueOverflowDefaults as q } from '../../definitions/policies/queue-overflow';
import { highErrorRateDefaults } from '../../definitions/policies/high-error-rate';
import { highLatencyDefaults } from '../../definitions/policies/high-latency';
import { poolExhaustionDefaults } from '../../definitions/policies/pool-exhaustion';

const base = { detectionErrorRate: 0.01, databaseOk: true, redisOk: true, logErrorLines: 0 };

test('the policies default to the seed: 5 min idle, 70/80 %, 1 %/5 %/1 h, 1 s/2 s/2 h/5 s, 200/500/1000', () => {
  expect(poolExhaustionDefaults).toMatchObject({
    idleTerminateAfterMs: 300_000,
    verifyBelow: 0.7,
    escalateAbove: 0.8,
  });
  expect(highErrorRateDefaults).toMatchObject({
    detectionErrorRate: 0.01,
    escalateErrorRate: 0.05,
    escalateAfterMs: 3_600_000,
    logLines: 200,
  });
  expect(highLatencyDefaults).toMatchObject({
    detectionP95Seconds: 1,
    escalateP95Seconds: 2,
    escalateAfterMs: 7_200_000,
    slowQueryMs: 5_000,
    poolUtilizationBelow: 0.7,
    redisHitRateAbove: 0.7,
  });
  expect(q).toMatchObject({
    detectionDepth: 200,
    pauseAboveDepth: 500,
    escalateDepth: 1000,
    workerUtilizationBelow: 0.8,
  });
});

test('restart if needed: only when the errors are the API’s own', () => {
  expect(restartNeeded({ ...base, errorRate: 0.3 }).restart).toBe(true);
  expect(restartNeeded({ ...base, errorRate: 0.01 }).restart).toBe(true);
  expect(restartNeeded({ ...base, errorRate: 0.0099 })).toMatchObject({ restart: false });
  expect(restartNeeded({ ...base, errorRate: 0.3, databaseOk: false }).why).toMatch(
    /database does not answer/,
  );
  expect(restartNeeded({ ...base, errorRate: 0.3, redisOk: false }).why).toMatch(/Redis does not answer/);
  expect(restartNeeded({ ...base, errorRate: null, logErrorLines: 3 }).restart).toBe(true);
  expect(restartNeeded({ ...base, errorRate: null, logErrorLines: 0 }).restart).toBe(false);
  // A check that could not run is not a failing dependency.
  expect(restartNeeded({ ...base, errorRate: 0.3, databaseOk: undefined, redisOk: undefined }).restart).toBe(
    true,
  );
});

test('growing rapidly: every sample higher than the last, and the slope at least the policy’s rate', () => {
  const at = (i: number) => i * q.sampleIntervalMs;
  const series = (values: number[]) => values.map((value, i) => ({ at: at(i), value }));
  // 50 jobs per 30 s = 100/min: exactly the default, rising: rapid.
  expect(growth(series([300, 350, 400, 450]), q.growthSamples, q.rapidGrowthPerMinute)).toEqual({
    rapid: true,
    slopePerMinute: 100,
    rising: true,
  });
  // 49 per 30 s: just under.
  expect(growth(series([300, 349, 398, 447]), 4, 100).rapid).toBe(false);
  // Fast overall but one sample fell: not "growing".
  expect(growth(series([300, 500, 480, 700]), 4, 100)).toMatchObject({ rapid: false, rising: false });
  // Not enough samples yet.
  expect(growth(series([300, 400, 500]), 4, 100)).toMatchObject({ rapid: false, slopePerMinute: null });
  // Only the last N count.
  expect(growth(series([900, 100, 200, 300, 400]), 4, 100).rapid).toBe(true);
});

test('a streak holds from its first sample and restarts after any break', () => {
  const s = new Streak();
  s.update(true, 1000);
  s.update(true, 4000);
  expect(s.heldFor(6000)).toBe(5000);
  expect(s.remaining(8000, 6000)).toBe(3000);
  s.update(false, 7000);
  expect(s.holding).toBe(false);
  expect(s.remaining(8000, 7000)).toBeUndefined();
  s.update(true, 9000);
  expect(s.heldFor(9500)).toBe(500);
});
