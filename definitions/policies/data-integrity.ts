/** P0-4 Data integrity: the seed's durations and roles. */
import { runbookApprovalDefaults, type RunbookApprovalPolicy } from './approval';
import { commonDefaults, type CommonPolicy } from './common';

export interface DataIntegrityPolicy extends CommonPolicy, RunbookApprovalPolicy {
  /** "Notify CEO + CTO + Legal immediately". */
  notifyRoles: string[];
  /** Folder under the evidence directory for the dump. */
  evidenceSubdir: string;
  /** pg_dump format: custom (pg_restore) or plain (psql). */
  dumpFormat: 'custom' | 'plain';
  dumpTimeoutMs: number;
  stopTimeoutSec: number;
  /** How long the hold may go unanswered by the target's guard before a person is paged (P0-4 keeps waiting). */
  holdEscalateAfterMs: number;
  healthTimeoutMs: number;
  verifyWindowMs: number;
  verifyIntervalMs: number;
}

export const dataIntegrityDefaults: DataIntegrityPolicy = {
  ...commonDefaults,
  notifyRoles: ['CEO', 'CTO', 'Legal'],
  ...runbookApprovalDefaults,
  evidenceSubdir: 'phase4_integrity',
  dumpFormat: 'custom',
  dumpTimeoutMs: 2 * 60 * 60_000,
  stopTimeoutSec: 10,
  holdEscalateAfterMs: 60_000,
  healthTimeoutMs: 5_000,
  verifyWindowMs: 2 * 60_000,
  verifyIntervalMs: 2_000,
};
