/** P0-4 Data integrity: the seed's durations and roles. */
import { approvalDefaults } from './approval';
import { commonDefaults, type CommonPolicy } from './common';

export interface DataIntegrityPolicy extends CommonPolicy {
  /** "Notify CEO + CTO + Legal immediately". */
  notifyRoles: string[];
  /** "Resume: CEO approval required" (e.g. ["CEO", "CTO"] to require both). */
  approvalRoles: string[];
  codeTtlMs: number;
  reminderEveryMs: number;
  maxWrongCodes: number;
  /** Folder under the evidence directory for the dump. */
  evidenceSubdir: string;
  /** pg_dump format: custom (pg_restore) or plain (psql). */
  dumpFormat: 'custom' | 'plain';
  dumpTimeoutMs: number;
  stopTimeoutSec: number;
  healthTimeoutMs: number;
  verifyWindowMs: number;
  verifyIntervalMs: number;
}

export const dataIntegrityDefaults: DataIntegrityPolicy = {
  ...commonDefaults,
  notifyRoles: ['CEO', 'CTO', 'Legal'],
  approvalRoles: approvalDefaults.requiredRoles,
  codeTtlMs: approvalDefaults.codeTtlMs,
  reminderEveryMs: approvalDefaults.reminderEveryMs,
  maxWrongCodes: approvalDefaults.maxWrongCodes,
  evidenceSubdir: 'phase4_integrity',
  dumpFormat: 'custom',
  dumpTimeoutMs: 2 * 60 * 60_000,
  stopTimeoutSec: 10,
  healthTimeoutMs: 5_000,
  verifyWindowMs: 2 * 60_000,
  verifyIntervalMs: 2_000,
};
