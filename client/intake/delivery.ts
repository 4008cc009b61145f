/**
 * Delivery: the mapped alerts to Temporal, through the gateway. Alerts for one incident go in order,
 * different incidents in parallel; with folding configured, Alertmanager's repeats are recorded for
 * the folder (client/intake/fold.ts) instead, and go to Temporal directly when it is unavailable.
 */
import type { Client } from '@temporalio/client';
import type { FastifyRequest } from 'fastify';
import type { RunbookId } from '../../definitions/types';
import { startIncident } from '../incidents';
import { DEFAULT_EPISODE_POLICY, deliverAlert, type DeliveryResult, type EpisodePolicy } from './episodes';
import type { MappedAlert } from './schema';

/** What the intake needs from Temporal; tests may wrap it to count calls. */
export interface IncidentGateway {
  /**
   * Start the incident, join the running one, or record the firing on the closed incident of its
   * episode (client/intake/episodes.ts); exactly one firing counted.
   */
  fire(alert: MappedAlert): Promise<DeliveryResult>;
  /** Deliver a resolution to the running incident or record it on the closed one; never starts one. */
  resolve(alert: MappedAlert): Promise<DeliveryResult>;
  /** Throws when Temporal cannot be reached. */
  ready(): Promise<void>;
  /**
   * Alert-storm folding (client/intake/fold.ts), when configured: records the alert durably and
   * delivers it with the other repeats for its incident as one counted signal.
   */
  fold?: { add(alerts: MappedAlert[]): Promise<void> };
  /**
   * `POST /alerts?dryRun=1`: a dry run of the alert's runbook (workflows/dry-run.ts), always a new
   * workflow of its own (`dryrun-…`): it never joins a real incident nor is folded into one.
   */
  dryRun(alert: MappedAlert): Promise<DeliveryResult>;
}

export function temporalGateway(
  client: Client,
  taskQueue: string,
  episodes: EpisodePolicy = DEFAULT_EPISODE_POLICY,
): IncidentGateway {
  const deliver = (a: MappedAlert, firing: number, resolved: number) =>
    deliverAlert({
      client,
      taskQueue,
      event: a.event,
      alert: a,
      workflowId: a.workflowId,
      firing,
      resolved,
      policy: episodes,
    });
  return {
    fire: (a) => deliver(a, 1, 0),
    resolve: (a) => deliver(a, 0, 1),
    async dryRun(a) {
      const handle = await startIncident({
        client,
        taskQueue,
        runbook: a.runbook,
        target: a.target,
        trigger: a.trigger,
        extraInput: a.extraInput,
        policy: a.policy,
        dryRun: true,
      });
      return {
        outcome: 'started',
        workflowId: handle.workflowId,
        reason: 'dry run started: its plan is in its state; nothing is done',
      };
    },
    async ready() {
      await client.connection.withDeadline(Date.now() + 2000, () => client.workflowService.getSystemInfo({}));
    },
  };
}

export interface AlertResult {
  index: number;
  alertName?: string;
  status?: 'firing' | 'resolved';
  runbook?: RunbookId;
  target?: string;
  workflowId?: string;
  /** `recorded`: on the closed incident of its alert episode (its follow-up), not a new incident. */
  outcome: 'started' | 'joined' | 'recorded' | 'queued' | 'ignored' | 'failed';
  reason?: string;
  /** Links of the alert that were not kept (not plain http(s) URLs); the alert itself was handled. */
  linksDropped?: string[];
}

const identity = (a: MappedAlert) => ({
  index: a.index,
  alertName: a.alertName,
  status: a.status,
  runbook: a.runbook,
  target: a.target,
  workflowId: a.workflowId,
});

async function act(gateway: IncidentGateway, alert: MappedAlert): Promise<AlertResult> {
  const base = identity(alert);
  try {
    const r = await (alert.status === 'firing' ? gateway.fire(alert) : gateway.resolve(alert));
    return { ...base, outcome: r.outcome, reason: r.reason };
  } catch (err) {
    return { ...base, outcome: 'failed', reason: `Temporal did not accept it: ${(err as Error).message}` };
  }
}

/** Alerts for one workflow go in order (firing before its resolution); different workflows in parallel. */
export async function actOnAll(
  gateway: IncidentGateway,
  alerts: MappedAlert[],
  fold: boolean,
  req: FastifyRequest,
): Promise<AlertResult[]> {
  // Alerts that carry charges go straight to their incident: folding keeps only the latest event.
  const direct = alerts.filter((a) => a.event.charges?.length);
  if (direct.length && fold && gateway.fold) {
    const rest = alerts.filter((a) => !a.event.charges?.length);
    const [d, r] = await Promise.all([
      actOnAll(gateway, direct, false, req),
      actOnAll(gateway, rest, true, req),
    ]);
    return [...d, ...r];
  }
  if (fold && gateway.fold && alerts.length) {
    try {
      await gateway.fold.add(alerts);
      return alerts.map((a) => ({
        ...identity(a),
        outcome: 'queued',
        reason:
          'recorded; it starts the incident or is added to its alert count within the fold window (repeats never start a second run)',
      }));
    } catch (err) {
      // Redis is down: the alerts go to Temporal directly, as without folding. Nothing is lost.
      req.log.warn(
        { err: { message: (err as Error).message } },
        'alert folding unavailable; sending directly',
      );
    }
  }
  const byWorkflow = new Map<string, MappedAlert[]>();
  for (const a of alerts) byWorkflow.set(a.workflowId, [...(byWorkflow.get(a.workflowId) ?? []), a]);
  const results: AlertResult[] = [];
  await Promise.all(
    [...byWorkflow.values()].map(async (group) => {
      for (const a of group) results.push(await act(gateway, a));
    }),
  );
  return results;
}
