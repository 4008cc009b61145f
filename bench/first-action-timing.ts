/**
 * Where the time from "sent" to the first activity goes, read from the workflow's own history, so
 * the alert's path and the floor's bare start can be compared hop by hop: before the server has the
 * run (the intake's share: HTTP, Redis, the delivery thread, its describe and start; the floor: one
 * start call), the first workflow task waiting for a poll, the worker running it, and the activity's
 * dispatch after it.
 */
import { eventMs, type HistoryEvent } from './measure';

export interface StartTiming {
  /** Sent → WorkflowExecutionStarted. */
  toStartedMs: number;
  /** Started → the first workflow task picked up by the worker. */
  taskQueuedMs: number;
  /** From the first workflow task picked up to the last one completed before the activity. */
  tasksRunMs: number;
  /** Workflow tasks completed before the first activity started. */
  tasks: number;
  /** The last workflow task completed → the first activity started. */
  dispatchMs: number;
}

export function startTiming(events: HistoryEvent[], sentAt: number): StartTiming {
  const has = (e: HistoryEvent, k: keyof HistoryEvent) => Boolean(e[k]);
  const activity = events.findIndex((e) => has(e, 'activityTaskStartedEventAttributes'));
  const before = activity < 0 ? events : events.slice(0, activity);
  const started = before.find((e) => has(e, 'workflowExecutionStartedEventAttributes'));
  const taskStarted = before.find((e) => has(e, 'workflowTaskStartedEventAttributes'));
  const completed = before.filter((e) => has(e, 'workflowTaskCompletedEventAttributes'));
  const last = completed[completed.length - 1];
  const at = (e: HistoryEvent | undefined) => (e ? eventMs(e) : NaN);
  return {
    toStartedMs: at(started) - sentAt,
    taskQueuedMs: at(taskStarted) - at(started),
    tasksRunMs: at(last) - at(taskStarted),
    tasks: completed.length,
    dispatchMs: activity < 0 ? NaN : eventMs(events[activity]) - at(last),
  };
}
