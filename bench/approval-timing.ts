/**
 * Where one approval's time goes, read from the workflow's own history: from the signal sent to the
 * activity started ("resumed"), and the part of it the workflow task spent scheduled but not yet
 * picked up by a poll of the worker (queued in the server's matching: the burst's queue).
 */
import { eventMs, type HistoryEvent } from './measure';

export interface ResumeTiming {
  /** Signal sent → first activity started; NaN when the history has no activity started. */
  resumedMs: number;
  /** The signal's workflow task: scheduled → started. */
  queuedMs: number;
}

export function resumeTiming(events: HistoryEvent[], sentAt: number): ResumeTiming {
  const signal = events.findIndex((e) => e.workflowExecutionSignaledEventAttributes);
  const after = signal < 0 ? [] : events.slice(signal);
  const first = (k: keyof HistoryEvent) => after.find((e) => e[k]);
  const activity = first('activityTaskStartedEventAttributes');
  const scheduled = first('workflowTaskScheduledEventAttributes');
  const started = first('workflowTaskStartedEventAttributes');
  return {
    resumedMs: activity ? eventMs(activity) - sentAt : NaN,
    queuedMs: scheduled && started ? eventMs(started) - eventMs(scheduled) : NaN,
  };
}
