/**
 * The skeleton every runbook shares: record the trigger, run steps, escalate on durable timers that
 * run alongside the remediation, keep a queryable state, measure time-to-resolve against the MTTR
 * target. A runbook workflow creates one `Incident` first thing (handlers must be registered before
 * the first await) and then reads like its section of the seed.
 */
import {
  condition,
  ParentClosePolicy,
  setCurrentDetails,
  setHandler,
  startChild,
  upsertSearchAttributes,
  workflowInfo,
  type ActivityOptions,
} from '@temporalio/workflow';
import { incidentTitle } from '../definitions/catalog';
import { minutes } from './durations';
import { renderCurrentDetails } from './current-details';
import {
  AwaitingApprovalKey,
  EscalatedKey,
  IncidentStatusKey,
  RunbookIdKey,
  SeverityKey,
  TargetServiceKey,
} from './search-attributes';
import { alertSignal, followUpWorkflowId, stateQuery } from '../definitions/messages';
import { incidentMetrics } from './metrics';
import { notifications } from './activity-proxies';
import { alertEventProblem } from './alert-events';
import type { EndStateCheck } from './end-state';
import { HumanCloses } from './incident-close';
import { ApprovalHub, type GateHost } from './approval-hub';
import { type ApprovalGateRecord } from '../definitions/approval';
import { failureText } from './incident-failures';
import { rehearsalOf, type Rehearsal } from './dry-run';
import { MTTR_TARGET_MS, type CommonPolicy } from '../definitions/policies/common';
import type {
  AlertEvent,
  FollowUpOptions,
  IncidentInput,
  IncidentState,
  IncidentStatus,
  PostIncidentInput,
  RunbookId,
  Severity,
} from '../definitions/types';

export interface RunbookMeta {
  runbook: RunbookId;
  name: string;
  severity: Severity;
}

/** `fn.executeWithOptions` with only a summary: the history then reads like the runbook. */
export function withSummary<A extends unknown[], R>(
  fn: { executeWithOptions(options: ActivityOptions, args: A): Promise<R> },
  summary: string,
  ...args: A
): Promise<R> {
  return fn.executeWithOptions({ summary }, args);
}

export { failureText, failureType } from './incident-failures';

const now = () => new Date().toISOString();

export class Incident implements GateHost {
  readonly state: IncidentState;
  /** Every approval gate of this incident, behind the one `approval` signal. */
  readonly approvals: ApprovalHub;
  /** A person's resolve (verified by the runbook's own check) or abandon (with the CTO's code). */
  private readonly closes: HumanCloses;
  /** Set by the runbook: what it takes from an alert that joins the incident (P0-3: new charges). */
  onAlert?: (event: AlertEvent) => void;
  /** Set by the runbook (before its first await): how it verifies a person's `resolve`. */
  endStateCheck?: EndStateCheck;
  /** Bumped by any signal, so waits can wake early and re-check. */
  wakeups = 0;
  readonly background: Promise<void>[] = [];
  private readonly followUp?: FollowUpOptions;
  /** Set on a dry run only (dry-run.ts): actions, pages and notifications are planned, not done. */
  readonly rehearsal?: Rehearsal;

  constructor(
    meta: RunbookMeta,
    input: IncidentInput,
    private readonly policy: CommonPolicy,
  ) {
    const startedAt = now();
    this.state = {
      incidentId: input.incidentId,
      runbook: meta.runbook,
      title: incidentTitle(meta.runbook, input.target),
      severity: meta.severity,
      target: input.target,
      status: 'investigating',
      currentStep: 'starting',
      trigger: input.trigger,
      steps: [],
      checks: {},
      escalations: [],
      alerts: {
        firing: 1,
        resolved: 0,
        lastStatus: 'firing',
        lastAt: startedAt,
        latestValues: input.trigger.values,
        truncated: input.trigger.truncatedAlerts
          ? { notifications: 1, latestAlerts: input.trigger.truncatedAlerts, lastAt: startedAt }
          : undefined,
      },
      mttr: {
        // A recurrence is detected when its alert outlived the grace, not when the alert began.
        detectedAt: input.trigger.recurrence?.detectedAt ?? input.trigger.startsAt ?? startedAt,
        remediationStartedAt: startedAt,
        targetMs: policy.mttrTargetMs ?? MTTR_TARGET_MS[meta.severity],
        breached: false,
      },
      decisions: [],
      failing: {},
    };
    this.rehearsal = rehearsalOf(input);
    this.rehearsal?.begin(this.state, input.rehearsalOf);

    setHandler(stateQuery, () => this.state, {
      description: 'Current incident state: step, checks, escalations, MTTR',
    });
    setHandler(alertSignal, (event) => this.recordAlert(event), {
      description: 'A repeated firing or a resolution of the alert (information only, never an action)',
    });
    // Before the close handlers: a signal that arrived before the start is delivered as they register.
    this.approvals = new ApprovalHub(this);
    this.closes = new HumanCloses(this, policy.abandonRoles ?? ['CTO']);
    this.background.push(this.approvals.run());
    this.closes.listen();
    upsertSearchAttributes([
      { key: RunbookIdKey, value: meta.runbook },
      { key: SeverityKey, value: meta.severity },
      { key: TargetServiceKey, value: input.target },
      { key: IncidentStatusKey, value: this.state.status },
      { key: EscalatedKey, value: false },
      { key: AwaitingApprovalKey, value: false },
    ]);
    this.refresh();
    this.followUp = input.followUp;
    if (!this.rehearsal) incidentMetrics.opened({ runbook: meta.runbook, severity: meta.severity });
    this.watchMttr();
  }

  /** An alert that joins the incident: counted, its values kept; never an action by itself. */
  private recordAlert(event: AlertEvent): void {
    // Anyone can send a signal from the UI or the CLI: a malformed one is refused and recorded,
    // never allowed to fail the workflow task (which would block the incident).
    const problem = alertEventProblem(event);
    if (problem) {
      this.decide(`Ignored a malformed alert signal: ${problem}`);
      return;
    }
    // What a runbook takes from an alert that joins it (P0-3: its charges), beside the counts.
    this.onAlert?.(event);
    // A repeat or a resolution is information only: it never triggers an action by itself.
    // In a storm the intake folds repeats into one signal that carries their count.
    if (event.count) {
      this.state.alerts.firing += event.count.firing;
      this.state.alerts.resolved += event.count.resolved;
    } else if (event.status === 'resolved') this.state.alerts.resolved++;
    else this.state.alerts.firing++;
    this.state.alerts.lastStatus = event.status;
    this.state.alerts.lastAt = event.receivedAt ?? now();
    if (event.values) this.state.alerts.latestValues = event.values;
    if (event.truncatedAlerts) {
      // Said, never silent: Alertmanager dropped alerts of this notification (max_alerts).
      this.state.alerts.truncated = {
        notifications: (this.state.alerts.truncated?.notifications ?? 0) + 1,
        latestAlerts: event.truncatedAlerts,
        lastAt: this.state.alerts.lastAt,
      };
    }
    this.wakeups++;
  }

  /** Keeps the UI's current details (Markdown) in step with the state; served by query, not history. */
  refresh(): void {
    setCurrentDetails(renderCurrentDetails(this.state, this.escalationDueAt));
  }

  /** When the next timed escalation fires, for the details panel. */
  private escalationDueAt?: string;

  /** Marks the incident as waiting for a person, with the exact signal to send. */
  awaitPerson(what: string, signal: string, example: Record<string, unknown>): void {
    this.state.waitingFor = { what, signal, example, since: now() };
    (this.state.mttr.waits ??= []).push({ what, since: this.state.waitingFor.since });
    this.setStatus('awaiting-approval');
    upsertSearchAttributes([{ key: AwaitingApprovalKey, value: true }]);
    this.refresh();
  }

  /** The person answered (or the wait ended): back to remediating. */
  stopAwaitingPerson(status: IncidentStatus = 'remediating'): void {
    this.state.waitingFor = undefined;
    this.endWait();
    upsertSearchAttributes([{ key: AwaitingApprovalKey, value: false }]);
    this.setStatus(status);
  }

  // --- GateHost: what the approval gates need from the incident ---------------------------------
  get incidentId(): string {
    return this.state.incidentId;
  }
  get runbook(): string {
    return this.state.runbook;
  }
  get gateRecords(): ApprovalGateRecord[] {
    return (this.state.approvals ??= []);
  }

  /** True once a person resolved or abandoned the incident. */
  get closedByHuman(): boolean {
    return this.closes.humanClose !== undefined;
  }

  get closed(): boolean {
    return this.state.status === 'resolved' || this.state.status === 'abandoned' || this.closedByHuman;
  }

  setStatus(status: IncidentStatus): void {
    if (this.state.status === 'resolved' || this.state.status === 'abandoned') return;
    // Once escalated, an incident stays listed as escalated until it closes.
    const next = this.state.status === 'escalated' && status === 'remediating' ? 'escalated' : status;
    if (next !== this.state.status) {
      this.state.status = next;
      upsertSearchAttributes([{ key: IncidentStatusKey, value: next }]);
    }
    this.refresh();
  }

  decide(text: string): void {
    this.state.decisions.push(`${now()} ${text}`);
    this.refresh();
  }

  /** Runs one numbered action of the runbook and records it; a failure is recorded and rethrown. */
  async step<T>(name: string, title: string, fn: () => Promise<T>, describe: (r: T) => string): Promise<T> {
    const record = { name, title, status: 'running' as const, startedAt: now() };
    this.state.steps.push(record);
    const index = this.state.steps.length - 1;
    this.state.currentStep = title;
    this.refresh();
    try {
      const result = await fn();
      this.state.steps[index] = { ...record, status: 'done', finishedAt: now(), result: describe(result) };
      return result;
    } catch (err) {
      this.state.steps[index] = { ...record, status: 'failed', finishedAt: now(), error: failureText(err) };
      throw err;
    } finally {
      this.refresh();
    }
  }

  /**
   * A check that may fail because a dependency is down: the failure is recorded in `failing`
   * (and the step), and `undefined` comes back so the runbook can go on and re-check later.
   */
  async check<T>(
    name: string,
    title: string,
    fn: () => Promise<T>,
    describe: (r: T) => string,
  ): Promise<T | undefined> {
    try {
      const result = await this.step(name, title, fn, describe);
      delete this.state.failing[name];
      return result;
    } catch (err) {
      this.state.failing[name] = failureText(err);
      return undefined;
    }
  }

  skip(name: string, title: string, why: string): void {
    const at = now();
    this.state.steps.push({ name, title, status: 'skipped', startedAt: at, finishedAt: at, result: why });
  }

  /**
   * An escalation rule that runs alongside remediation: a durable timer, not a step timeout.
   * When it fires and the incident is still open, the next tier is paged and the runbook goes on.
   */
  escalateAfter(ms: number, rule: string, tier: string): void {
    this.escalationDueAt = new Date(Date.now() + ms).toISOString();
    this.refresh();
    this.background.push(
      (async () => {
        const closedInTime = await condition(() => this.closed, ms, { summary: rule });
        this.escalationDueAt = undefined;
        if (!closedInTime) await this.escalate(rule, tier);
      })(),
    );
  }

  /** Pages a tier now (a measured condition was crossed, or a timer fired). */
  async escalate(reason: string, tier: string): Promise<void> {
    const n = this.state.escalations.length + 1;
    this.setStatus('escalated');
    upsertSearchAttributes([{ key: EscalatedKey, value: true }]);
    this.decide(`Escalating to ${tier}: ${reason}`);
    if (this.rehearsal) {
      this.state.escalations.push(this.rehearsal.page(this.state, tier, reason));
      return this.refresh();
    }
    incidentMetrics.escalated({ runbook: this.state.runbook, severity: this.state.severity, tier });
    try {
      const delivery = await withSummary(notifications.page, `Page ${tier}: ${reason}`, {
        incidentId: this.state.incidentId,
        runbook: this.state.runbook,
        severity: this.state.severity,
        tier,
        summary: `${this.state.title}: ${reason}`,
        details: { currentStep: this.state.currentStep, checks: this.state.checks },
        dedupKey: `${this.state.incidentId}/escalation-${n}`,
      });
      this.state.escalations.push({ at: now(), tier, reason, ...delivery });
    } catch (err) {
      this.state.escalations.push({
        at: now(),
        tier,
        reason,
        delivered: [],
        failed: [{ channel: 'all', error: failureText(err) }],
      });
    }
    // The page's outcome shows in the UI's current details now, not at the next step.
    this.refresh();
  }

  /** The MTTR clock: a breach is notified when it happens, not only at the end. */
  private watchMttr(): void {
    const elapsed = Date.now() - Date.parse(this.state.mttr.detectedAt);
    const remaining = Math.max(0, this.state.mttr.targetMs - elapsed);
    this.background.push(
      (async () => {
        const target = minutes(this.state.mttr.targetMs);
        if (
          await condition(() => this.closed, remaining, {
            summary: `MTTR target: resolve within ${target}`,
          })
        )
          return;
        this.state.mttr.breached = true;
        this.state.mttr.breachNotifiedAt = now();
        incidentMetrics.mttrBreached({
          runbook: this.state.runbook,
          severity: this.state.severity,
          targetMs: this.state.mttr.targetMs,
        });
        await this.escalate(`MTTR target of ${target} breached`, 'incident commander (MTTR breach)');
      })(),
    );
  }

  /**
   * Waits until `ready()` holds, a person closes the incident, or `ms` passes; any signal wakes it
   * early so the runbook can re-check. Returns true unless the time ran out.
   */
  async waitFor(ms: number, summary: string, ready: () => boolean = () => false): Promise<boolean> {
    const seen = this.wakeups;
    return condition(() => ready() || this.closedByHuman || this.wakeups !== seen, ms, { summary });
  }

  /** Next re-check interval: doubles from the policy's start up to its cap. */
  recheckDelay(attempt: number): number {
    return Math.min(
      this.policy.recheckIntervalMs * 2 ** Math.max(0, attempt),
      this.policy.maxRecheckIntervalMs,
    );
  }

  /** True when the incident has been open longer than the policy allows without a person. */
  get pastGiveUp(): boolean {
    return Date.now() - Date.parse(this.state.mttr.remediationStartedAt) > this.policy.giveUpAfterMs;
  }

  /**
   * Ends the incident, recording time-to-resolve against the MTTR target, and hands off to the
   * post-incident follow-up (report, post-mortem, runbook update), which outlives this workflow.
   */
  async finish(status: 'resolved' | 'abandoned', outcome: string): Promise<IncidentState> {
    const resolvedAt = now();
    this.state.status = status;
    this.state.currentStep = status;
    this.state.outcome = outcome;
    this.state.waitingFor = undefined;
    this.endWait();
    upsertSearchAttributes([
      { key: IncidentStatusKey, value: status },
      { key: AwaitingApprovalKey, value: false },
    ]);
    this.state.mttr.resolvedAt = resolvedAt;
    this.state.mttr.timeToResolveMs = Date.parse(resolvedAt) - Date.parse(this.state.mttr.detectedAt);
    this.state.mttr.breached = this.state.mttr.timeToResolveMs > this.state.mttr.targetMs;
    this.decide(`${status}: ${outcome}`);
    // A dry run that ends without acting: no metrics, no follow-up (nothing happened to report).
    if (this.rehearsal) return this.endPlan(`the real run would end here, ${status}: ${outcome}`);
    const mttr = this.state.mttr;
    incidentMetrics.closed({
      runbook: this.state.runbook,
      severity: this.state.severity,
      status,
      timeToResolveMs: mttr.timeToResolveMs ?? 0,
      timeToRemediationMs: Math.max(0, Date.parse(mttr.remediationStartedAt) - Date.parse(mttr.detectedAt)),
      targetMs: mttr.targetMs,
      breached: mttr.breached,
      escalations: this.state.escalations.length,
    });
    await this.startFollowUp();
    return this.state;
  }

  /** Closes the open wait for a person, if any, with its duration (for MTTR and the metrics). */
  private endWait(): void {
    const wait = this.state.mttr.waits?.find((w) => w.until === undefined);
    if (!wait) return;
    wait.until = now();
    wait.ms = Date.parse(wait.until) - Date.parse(wait.since);
    incidentMetrics.waitedForPerson({
      runbook: this.state.runbook,
      severity: this.state.severity,
      ms: wait.ms,
    });
  }

  /**
   * Starts the post-incident follow-up as a child that outlives this workflow. A failure to start it
   * is recorded (and visible in the report) but never fails the incident.
   */
  private async startFollowUp(): Promise<void> {
    const workflowId = followUpWorkflowId(this.state.incidentId);
    this.state.followUp = { workflowId };
    try {
      const input: PostIncidentInput = {
        incident: this.state,
        incidentWorkflowId: workflowInfo().workflowId,
        incidentRunId: workflowInfo().runId,
        owners: this.followUp?.owners,
        policy: this.followUp?.policy,
      };
      // By type name: the follow-up's module imports this one (withSummary).
      await startChild('postIncident', {
        workflowId,
        parentClosePolicy: ParentClosePolicy.ABANDON,
        args: [input],
        staticSummary: `Follow-up: ${this.state.title}`,
        typedSearchAttributes: [
          { key: RunbookIdKey, value: this.state.runbook },
          { key: SeverityKey, value: this.state.severity },
          { key: TargetServiceKey, value: this.state.target },
          { key: IncidentStatusKey, value: 'follow-up' },
        ],
      });
      this.state.followUp.startedAt = now();
      this.decide(`Post-incident follow-up started: ${workflowId}`);
    } catch (err) {
      this.state.followUp.error = failureText(err);
      this.decide(`Post-incident follow-up could not start: ${this.state.followUp.error}`);
    }
  }

  /** A dry run's plan is complete (dry-run.ts): the workflow returns the state, nothing more runs. */
  endPlan(why: string): Promise<never> {
    this.rehearsal!.endPlan(this.state, why);
    this.refresh();
    return new Promise<never>(() => {});
  }

  /** Ends the incident as the person who closed it asked. */
  finishByHuman(): Promise<IncidentState> {
    const close = this.closes.humanClose!;
    return this.finish(
      close.action === 'resolve' ? 'resolved' : 'abandoned',
      `${close.action === 'resolve' ? 'resolved' : 'abandoned'} by ${close.by}: ${close.reason}${close.verified ? ` (verified: ${close.verified})` : ''}`,
    );
  }

  get workflowId(): string {
    return workflowInfo().workflowId;
  }
}
