/** Who must approve a gate, and how codes behave: one type shared by every gate and runbook. */
export interface ApprovalPolicy {
  /** Every one of these roles must approve (the seed: CEO; e.g. ["CEO", "CTO"] for two people). */
  requiredRoles: string[];
  codeTtlMs: number;
  reminderEveryMs: number;
  /** Wrong codes one incident takes before every short code is replaced by a long one. */
  maxWrongCodes: number;
}

export const approvalDefaults: ApprovalPolicy = {
  requiredRoles: ['CEO'],
  codeTtlMs: 60 * 60_000,
  reminderEveryMs: 15 * 60_000,
  maxWrongCodes: 20,
};

/** The approval fields of a runbook whose resume waits for an approval (P0-3, P0-4), as its policy names them. */
export interface RunbookApprovalPolicy {
  /** Who must approve the resume (the seed: "CEO approval required"; e.g. ["CEO", "CTO"] to require both). */
  approvalRoles: string[];
  codeTtlMs: number;
  reminderEveryMs: number;
  maxWrongCodes: number;
}

export const runbookApprovalDefaults: RunbookApprovalPolicy = {
  approvalRoles: approvalDefaults.requiredRoles,
  codeTtlMs: approvalDefaults.codeTtlMs,
  reminderEveryMs: approvalDefaults.reminderEveryMs,
  maxWrongCodes: approvalDefaults.maxWrongCodes,
};
