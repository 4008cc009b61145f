/**
 * The game day's reach into the world (workflows/game-day.ts): check that the target is a game-day
 * target that says it is that sandbox, inject the fault, find the incident detection started, wait
 * for it to close, and take the fault away again. Every call that touches the target checks it
 * against the worker's GAMEDAY_TARGETS first: anyone who can start a workflow can start a gameDay
 * with any input, and a fault must never reach a target the operator did not name.
 */
import { hostname } from 'node:os';
import { Context, sleep } from '@temporalio/activity';
import type { Client } from '@temporalio/client';
import { RUNBOOKS } from '../definitions/catalog';
import { describeError, FailureType, nonRetryable } from '../definitions/errors';
import { GAME_DAY_FAULTS, type GameDayFault, type GameDayIncident } from '../definitions/game-day';
import { stateQuery } from '../definitions/messages';
import type { IncidentState, RunbookId } from '../definitions/types';

export interface GameDayDeps {
  /** GAMEDAY_TARGETS: container name → its sandbox API's base URL (config/game-day.ts). */
  targets: Record<string, string>;
  /** To find and follow the incident (the worker's own client). */
  temporal?: Client;
  /** To start only from a quiet target: none of the fault's alert pending or firing. */
  prometheusUrl?: string;
  /** GAMEDAY_WORKER_KILL: this worker may kill itself for a game day's worker kill. */
  workerKill?: boolean;
  /** Polling pace (tests of the activities may shorten it). */
  pollMs?: number;
}

const call = (url: string, init: RequestInit = {}) =>
  fetch(url, { ...init, signal: AbortSignal.timeout(5000) });

/** What every game-day activity uses: the target's API (only a game-day target), Temporal, Prometheus. */
function tools(deps: GameDayDeps) {
  const pollMs = deps.pollMs ?? 2000;
  const apiOf = (target: string): string => {
    const url = Object.hasOwn(deps.targets, target) ? deps.targets[target] : undefined;
    if (!url) {
      const known = Object.keys(deps.targets);
      throw nonRetryable(
        FailureType.ActionRefused,
        `"${target}" is not a game-day target of this worker (GAMEDAY_TARGETS names ${known.length ? known.join(', ') : 'none'}): no fault injected`,
      );
    }
    return url;
  };
  const temporal = (): Client => {
    if (!deps.temporal)
      throw nonRetryable(FailureType.DependencyUnavailable, 'the worker has no Temporal client');
    return deps.temporal;
  };
  /** Running incidents of the runbook on the target started at or after `after` (any when unset). */
  const incidents = async (runbook: RunbookId, target: string, extra: string) => {
    const query =
      `WorkflowType = '${RUNBOOKS[runbook].workflowType}' AND RunbookId = '${runbook}' ` +
      `AND TargetService = '${target}'${extra}`;
    const found: { workflowId: string; runId: string; startTime: Date }[] = [];
    for await (const w of temporal().workflow.list({ query })) found.push(w);
    return found.sort((a, b) => a.startTime.getTime() - b.startTime.getTime());
  };
  const alertActive = async (alert: string, target: string): Promise<boolean> => {
    if (!deps.prometheusUrl) return false;
    const res = await call(`${deps.prometheusUrl}/api/v1/alerts`);
    const body = (await res.json()) as { data: { alerts: { labels: Record<string, string> }[] } };
    return body.data.alerts.some((a) => a.labels.alertname === alert && a.labels.service === target);
  };

  return { pollMs, apiOf, temporal, incidents, alertActive };
}

type Tools = ReturnType<typeof tools>;

/** The target's API says it is that sandbox instance (a production API has no fault routes). */
async function checkIdentity(t: Tools, target: string): Promise<void> {
  const api = t.apiOf(target);
  const res = await call(`${api}/api/sandbox/faults`).catch((err: unknown) => {
    throw nonRetryable(
      FailureType.ActionRefused,
      `game-day target ${target} (${api}) did not answer: ${describeError(err)}: no fault injected`,
    );
  });
  const who = res.ok ? ((await res.json()) as { instance?: string; role?: string }) : {};
  if (who.instance !== target || who.role !== 'api') {
    throw nonRetryable(
      FailureType.ActionRefused,
      `${api} is not the sandbox API ${target} (its fault routes answered HTTP ${res.status}, instance ${String(who.instance)}, role ${String(who.role)}): no fault injected`,
    );
  }
}

/** Healthy and the fault's alert neither pending nor firing, waiting up to `quietTimeoutMs`. */
async function waitQuiet(t: Tools, i: { fault: GameDayFault; target: string; quietTimeoutMs: number }) {
  const api = t.apiOf(i.target);
  const alert = GAME_DAY_FAULTS[i.fault].alert;
  const deadline = Date.now() + i.quietTimeoutMs;
  for (;;) {
    const healthy = (await call(`${api}/api/monitoring/health`).catch(() => undefined))?.status === 200;
    const alerting = await t.alertActive(alert, i.target);
    if (healthy && !alerting) return;
    if (Date.now() > deadline) {
      const why = [healthy ? '' : 'health not 200', alerting ? `${alert} pending or firing` : ''];
      throw nonRetryable(
        FailureType.ActionRefused,
        `${i.target} is not quiet after ${i.quietTimeoutMs / 1000} s (${why.filter(Boolean).join(', ')}): no fault injected`,
      );
    }
    Context.current().heartbeat({ healthy, alerting });
    await sleep(t.pollMs);
  }
}

/** Waits for the incident to close; its final state, or its state at the deadline. */
async function awaitIncident(
  t: Tools,
  i: { workflowId: string; runId: string; startedAt: string; timeoutMs: number },
): Promise<GameDayIncident> {
  const handle = t.temporal().workflow.getHandle(i.workflowId, i.runId);
  const found = { workflowId: i.workflowId, runId: i.runId, startedAt: i.startedAt };
  const deadline = Date.now() + i.timeoutMs;
  for (;;) {
    const status = (await handle.describe()).status.name;
    if (status === 'COMPLETED') {
      return { ...found, closeStatus: status, state: (await handle.result()) as IncidentState };
    }
    if (status !== 'RUNNING' || Date.now() > deadline) {
      const state = await handle.query(stateQuery).catch(() => undefined);
      return { ...found, closeStatus: status, state };
    }
    Context.current().heartbeat({ status });
    await sleep(t.pollMs * 2);
  }
}

/** Polls the incident's state until the step has started; undefined if the incident closed first. */
async function awaitStep(
  t: Tools,
  i: { workflowId: string; runId: string; step: string; timeoutMs: number },
): Promise<{ incidentStep: string } | undefined> {
  const handle = t.temporal().workflow.getHandle(i.workflowId, i.runId);
  const deadline = Date.now() + i.timeoutMs;
  while (Date.now() < deadline) {
    const state = await handle.query(stateQuery).catch(() => undefined);
    if (state?.steps.some((s) => s.name === i.step)) return { incidentStep: state.currentStep };
    if (state && ['resolved', 'abandoned'].includes(state.status)) return undefined;
    Context.current().heartbeat();
    await sleep(250); // the steps of P0-1 take seconds: a slower poll would miss the moment
  }
  return undefined;
}

/**
 * The worker kill, on this worker's own process: it says who it is in a heartbeat (the game day
 * reads it from the timeout that follows), gives the heartbeat a moment to leave, then SIGKILL.
 */
async function killSelf(enabled: boolean, step: string): Promise<never> {
  if (!enabled) {
    throw nonRetryable(
      FailureType.ActionRefused,
      `this worker (${process.pid}@${hostname()}) has no worker kill: GAMEDAY_WORKER_KILL is not true`,
    );
  }
  Context.current().heartbeat({ worker: `${process.pid}@${hostname()}`, step });
  await sleep(1500);
  process.kill(process.pid, 'SIGKILL');
  return new Promise<never>(() => undefined);
}

export const createGameDayActivities = (deps: GameDayDeps) => {
  const t = tools(deps);
  return {
    /**
     * Before any fault: a game-day target that says it is that sandbox, no incident of the runbook
     * open on it (the alert would join that one), healthy and the fault's alert quiet (an earlier
     * fault may take minutes to fade from the rates).
     */
    async gameDayPreflight(i: {
      runbook: RunbookId;
      fault: GameDayFault;
      target: string;
      quietTimeoutMs: number;
    }) {
      await checkIdentity(t, i.target);
      const open = await t.incidents(i.runbook, i.target, ` AND ExecutionStatus = 'Running'`);
      if (open.length) {
        throw nonRetryable(
          FailureType.ActionRefused,
          `incident ${open[0].workflowId} of ${i.runbook} is still open on ${i.target}: a game day starts from a quiet target`,
        );
      }
      await waitQuiet(t, i);
      return { checkedAt: new Date().toISOString() };
    },

    /** Injects the fault; returns the time just before it (the game day's zero). */
    async injectGameDayFault(i: { fault: GameDayFault; target: string }): Promise<{ injectedAt: string }> {
      const api = t.apiOf(i.target);
      const injectedAt = new Date().toISOString();
      const spec = GAME_DAY_FAULTS[i.fault].spec;
      const res = await call(`${api}/api/sandbox/faults`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(spec),
      }).catch((err: unknown) => {
        // A crash may take the process down before it answers.
        if (i.fault === 'crash') return undefined;
        throw err;
      });
      if (res && !res.ok) {
        throw nonRetryable(
          FailureType.ActionRefused,
          `${i.target} refused the ${spec.fault} fault: HTTP ${res.status} ${await res.text()}`,
        );
      }
      return { injectedAt };
    },

    /** The incident of the runbook on the target started since the fault, or null by the deadline. */
    async findGameDayIncident(i: { runbook: RunbookId; target: string; after: string; timeoutMs: number }) {
      const deadline = Date.now() + i.timeoutMs;
      for (;;) {
        const [first] = await t.incidents(i.runbook, i.target, ` AND StartTime >= '${i.after}'`);
        if (first) {
          return {
            workflowId: first.workflowId,
            runId: first.runId,
            startedAt: first.startTime.toISOString(),
          };
        }
        if (Date.now() > deadline) return null;
        Context.current().heartbeat();
        await sleep(t.pollMs);
      }
    },

    /** Until the incident has started `step` (the moment of a worker kill). */
    awaitIncidentStep: (i: { workflowId: string; runId: string; step: string; timeoutMs: number }) =>
      awaitStep(t, i),

    /** Kills this worker's process (GAMEDAY_WORKER_KILL only): it never returns. */
    killGameDayWorker: (i: { step: string }) => killSelf(deps.workerKill === true, i.step),

    awaitGameDayIncident: (i: { workflowId: string; runId: string; startedAt: string; timeoutMs: number }) =>
      awaitIncident(t, i),

    /** Takes the game day's fault off the target (a crash leaves nothing to take off). */
    async clearGameDayFault(i: { fault: GameDayFault; target: string }): Promise<{ cleared: boolean }> {
      const api = t.apiOf(i.target);
      if (i.fault === 'crash') return { cleared: false };
      const name = GAME_DAY_FAULTS[i.fault].spec.fault;
      const res = await call(`${api}/api/sandbox/faults?fault=${encodeURIComponent(name)}`, {
        method: 'DELETE',
      });
      if (!res.ok) throw new Error(`clearing ${name} on ${i.target}: HTTP ${res.status}`);
      return { cleared: true };
    },
  };
};

export type GameDayActivities = ReturnType<typeof createGameDayActivities>;
