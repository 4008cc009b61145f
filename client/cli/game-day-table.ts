/** How `runbooks gameday list` and `runbooks gameday results` print: one row per schedule or run. */
import type { GameDayScore } from '../../definitions/game-day';
import type { GameDayRun, GameDaySchedule } from '../game-days';
import { formatTable } from './common';

/** 95 000 → "1m35s", 4 200 → "4.2s", undefined → "-". */
export function duration(ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms)) return '-';
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const h = Math.floor(ms / 3_600_000);
  const m = Math.floor((ms % 3_600_000) / 60_000);
  const s = Math.round((ms % 60_000) / 1000);
  return h ? `${h}h${String(m).padStart(2, '0')}m` : `${m}m${String(s).padStart(2, '0')}s`;
}

export function scheduleTable(schedules: GameDaySchedule[]): string {
  if (!schedules.length)
    return 'No game days. Create one with: runbooks gameday create --runbook P0-1 --fault crash --cron "0 10 * * 2"';
  return formatTable(
    ['SCHEDULE', 'RUNBOOK', 'FAULT', 'TARGET', 'CRON', 'STATE', 'NEXT RUN', 'RUNS'],
    schedules.map((s) => [
      s.scheduleId,
      s.runbook ?? '?',
      s.fault ?? '?',
      s.target ?? '?',
      s.cron ?? '?',
      s.paused ? `paused${s.note ? ` (${s.note})` : ''}` : 'active',
      s.nextRun ?? '-',
      String(s.recentRuns.length),
    ]),
  ).join('\n');
}

const approvals = (s: GameDayScore) =>
  s.approvals.length
    ? s.approvals.map((a) => `${a.approvedBy.join('+') || 'nobody'} in ${duration(a.waitedMs)}`).join('; ')
    : 'none asked';

const escalations = (s: GameDayScore) =>
  s.escalations.length ? s.escalations.map((e) => `${e.tier} at +${duration(e.afterMs)}`).join('; ') : 'none';

const workerKill = (s: GameDayScore) => {
  const k = s.workerKill!;
  if (k.outcome !== 'killed')
    return `worker kill at ${k.step}: ${k.outcome}${k.detail ? ` (${k.detail})` : ''}`;
  const at = k.at ? ` at +${duration(Date.parse(k.at) - Date.parse(s.injectedAt))}` : '';
  return `worker kill at ${k.step}: killed ${k.worker ?? 'a worker'}${at}, the incident at ${k.incidentStep ?? '?'}`;
};

/** The score table: one row per run; a failed verdict's reasons under the table. */
export function resultsTable(runs: GameDayRun[]): string {
  if (!runs.length) return 'No game-day runs yet. Run one now with: runbooks gameday trigger <schedule>';
  const rows = runs.map((r) => {
    const s = r.score;
    if (!s)
      return [
        r.startedAt.slice(0, 19) + 'Z',
        r.scheduleId ?? r.workflowId,
        '',
        '',
        '',
        '',
        '',
        '',
        r.status.toLowerCase(),
        '',
        '',
      ];
    return [
      s.injectedAt.slice(0, 19) + 'Z',
      r.scheduleId ?? r.workflowId,
      s.runbook,
      s.fault,
      duration(s.detectMs),
      s.firstAction ? `${duration(s.firstAction.ms)} (${s.firstAction.step})` : '-',
      duration(s.resolveMs),
      `<${duration(s.mttrTargetMs)}`,
      s.verdict.toUpperCase(),
      approvals(s),
      escalations(s),
    ];
  });
  const notes = runs.flatMap((r) =>
    r.error
      ? [`${r.workflowId}: ${r.error}`]
      : [
          ...(r.score?.reasons ?? []).map((why) => `${r.workflowId}: ${why}`),
          ...(r.score?.workerKill ? [`${r.workflowId}: ${workerKill(r.score)}`] : []),
        ],
  );
  return [
    ...formatTable(
      [
        'FAULT AT',
        'GAME DAY',
        'RUNBOOK',
        'FAULT',
        'DETECT',
        'FIRST ACTION',
        'RESOLVE',
        'MTTR TARGET',
        'VERDICT',
        'APPROVALS',
        'ESCALATIONS',
      ],
      rows,
    ),
    ...(notes.length ? ['', ...notes] : []),
  ].join('\n');
}
