/**
 * What each runbook records in its incident's state (`state.checks`) as it checks and acts: shown in
 * the current details, queried by the CLI and the UI, read back by the report. One interface per
 * runbook, every field optional (a field appears once its step ran); `IncidentChecks` is what the
 * shared state type holds.
 */
import type { ChargeEntry, ChargeRequestRecord } from './charges';
import type {
  AppBillingStatus,
  BillingSwitch,
  ContainerState,
  DatabaseCheck,
  HealthResult,
  HitRate,
  PingResult,
  PoolReport,
  SlowQuery,
  TerminatedSession,
} from './observations';
import type { GuardedActionKind } from './target-guard';

/** An excerpt of the target's logs ("Check logs"). */
export interface LogsCheck {
  excerpt: string[];
  lineCount: number;
  errorLines: number;
}

/** What any runbook may record: its last word from the target guard, a hold, its verify loop. */
export interface CommonChecks {
  targetGuard?: {
    at: string;
    kind: GuardedActionKind;
    granted: boolean;
    reason: string;
    heldBy: { incidentId: string; runbook: string } | undefined;
  };
  targetHold?: { target: string; held: boolean; reason: string; at: string };
  verification?: { condition: string; holdingSince: string | null; unmeasuredSince: string | null };
}

/** P0-1 System down. */
export interface SystemDownChecks {
  health?: HealthResult & { attempts?: number };
  logs?: LogsCheck;
  container?: ContainerState;
  restarts?: number;
}

/** P0-2 Database pool exhaustion. */
export interface PoolExhaustionChecks {
  pool?: PoolReport;
  poolBefore?: PoolReport;
  terminated?: number;
  terminatedSessions?: TerminatedSession[];
  killScope?: {
    roles: string[];
    applicationName: string | null;
    matchedSessions: number;
    idleOtherRoles: number;
    result: string;
  };
  aboveEscalationSince?: string | null;
  report?: { terminated: number | null; utilizationBefore: number | null; utilizationAfter: number | null };
}

/** P0-3 Billing error: the switch, the charges and their refunds. */
export interface BillingErrorChecks {
  reported?: { charges: string[]; reportedBy: string };
  billingSwitch?: BillingSwitch;
  appBilling?: AppBillingStatus;
  resumeWaitsForRefunds?: { charges: string[]; since: string; until: string | undefined };
  charges?: { summary: string; list: ChargeEntry[] };
  chargeRequests?: { summary: string; list: ChargeRequestRecord[]; notStored: number | undefined };
  refunds?: {
    reported: string;
    charge: string;
    refundId: string;
    amount: number;
    currency: string;
    status: string | null;
    alreadyRefunded: boolean;
    idempotencyKey: string;
  }[];
  refundDocuments?: string[];
  refundDocumentModes?: Record<string, { mode: string; dirMode: string }>;
  refundCaps?: {
    usedCount: number;
    usedTotal: number;
    perCharge: number;
    perIncidentTotal: number;
    perIncidentCount: number;
    summary: string;
  };
  refundsWaiting?: {
    summary: string;
    charges: {
      charge: string;
      amount: number | undefined;
      currency: string | undefined;
      why: string | undefined;
      gate: string | undefined;
    }[];
  };
}

/** P0-4 Data integrity violation. */
export interface DataIntegrityChecks {
  violation?: string;
  evidence?: {
    path: string;
    bytes: number;
    sha256: string;
    format: 'custom' | 'plain';
    mode: string;
    dirMode: string;
  };
  health?: HealthResult & { attempts?: number };
}

/** P1-1 High error rate. */
export interface HighErrorRateChecks {
  errorRate?: number | null;
  logs?: LogsCheck;
  database?: DatabaseCheck;
  redis?: PingResult;
  restarts?: number;
}

/** P1-2 High latency. */
export interface HighLatencyChecks {
  p95Seconds?: number | null;
  slowQueries?: SlowQuery[];
  pool?: PoolReport;
  redisHitRate?: HitRate;
  killed?: { rounds: number; cancelled: number[]; terminated: number[] };
}

/** P1-3 Queue overflow. */
export interface QueueOverflowChecks {
  queueDepth?: number;
  growth?: { slopePerMinute: number | null; rising: boolean; samples: number[] };
  workerUtilization?: number | null;
  replicas?: string[];
  jobsPaused?: boolean;
}

export type IncidentChecks = CommonChecks &
  SystemDownChecks &
  PoolExhaustionChecks &
  BillingErrorChecks &
  DataIntegrityChecks &
  HighErrorRateChecks &
  HighLatencyChecks &
  QueueOverflowChecks;
