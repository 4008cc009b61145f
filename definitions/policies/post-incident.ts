/** The post-incident duties: when each is due, when its owner is reminded, who is told when late. */
import type { PostIncidentPolicy } from '../types';

const HOUR = 60 * 60_000;

export const postIncidentDefaults: PostIncidentPolicy = {
  reportDueMs: 24 * HOUR,
  reportReminderBeforeMs: 4 * HOUR,
  postMortemDueMs: 48 * HOUR,
  postMortemReminderBeforeMs: 8 * HOUR,
  runbookUpdateDueMs: 48 * HOUR,
  runbookUpdateReminderBeforeMs: 8 * HOUR,
  escalationTier: 'engineering lead (CTO)',
  owners: ['incident-owners@accubooks.local'],
};
