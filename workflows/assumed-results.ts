/**
 * A dry run's stand-in for what each mutating activity returns when it did what it should (the
 * success path, dry-run.ts): after a planned action the runbook goes on as the real run does when
 * the action worked. Nothing here is read from the systems: numbers that only the action could
 * tell (sessions terminated, a refund's ID) are zero or say "dry run"; the plan says the action
 * was not taken.
 */
import type { Activities } from '../activities';
import type { GuardedActivity } from '../definitions/target-guard';
import type { ContainerState } from '../definitions/observations';

type Input<N extends GuardedActivity> = Omit<Parameters<Activities[N]>[0], 'grant'>;
type Result<N extends GuardedActivity> = Awaited<ReturnType<Activities[N]>>;

const now = () => new Date().toISOString();

const container = (name: string, running: boolean): ContainerState => ({
  name,
  running,
  status: running ? 'running' : 'exited',
  exitCode: 0,
  restartCount: 0,
  startedAt: running ? now() : '',
  finishedAt: running ? '' : now(),
});

/** Every query the kill was given ended (cancel or terminate alike). */
const queriesEnded = (i: { queries: { pid: number }[] }) => ({
  signalled: i.queries.map((q) => q.pid),
  ended: i.queries.map((q) => q.pid),
  stillRunning: [],
  skipped: [],
});

const billingSwitch = (key: string, enabled: boolean, by: string | null) => ({
  key,
  enabled,
  updatedAt: now(),
  updatedBy: by,
});

/** Each guarded activity's result when it worked, from its input. */
export const ASSUMED_RESULTS: { [N in GuardedActivity]: (input: Input<N>) => Result<N> } = {
  restartContainer: (i) => ({ restarted: true, alreadyDone: false, state: container(i.container, true) }),
  stopContainer: (i) => ({ stopped: true, alreadyDone: false, state: container(i.container, false) }),
  startContainer: (i) => ({ started: true, alreadyDone: false, state: container(i.container, true) }),
  scaleWorkersUp: (i) => {
    const names = Array.from({ length: i.replicas }, (_, n) => `${i.target}-fw-${n + 1} (dry run)`);
    const running = names.map((name, n) => ({ name, index: n + 1, running: true, startedAt: now() }));
    return { created: names, running };
  },
  scaleWorkersDown: () => ({ removed: [], remaining: [] }),
  // The key the activity would default to is the worker's: shown as the input's, or "(default)".
  setBillingEnabled: (i) => ({
    before: billingSwitch(i.key ?? '(default)', !i.enabled, null),
    after: billingSwitch(i.key ?? '(default)', i.enabled, i.by),
  }),
  setFlag: () => ({ previous: null }),
  clearFlag: () => ({ existed: true }),
  refundCharge: (i) => ({
    requested: i.charge,
    refundId: '(dry run: no refund)',
    charge: i.charge,
    paymentIntent: null,
    amount: 0,
    currency: '',
    status: 'succeeded',
    createdAt: now(),
    idempotencyKey: i.idempotencyKey,
    alreadyRefunded: false,
  }),
  cancelQueries: queriesEnded,
  terminateQueries: queriesEnded,
  // How many sessions it would end only the action could tell; the scope is assumed to match.
  terminateIdleSessions: () => ({
    terminated: [],
    count: 0,
    roles: [],
    matchedSessions: 1,
    idleOtherRoles: 0,
  }),
};
