/**
 * Drafting the incident report for the post-incident follow-up. With a Temporal client (the worker
 * hands one in) the draft is rendered from the incident's full history, once the incident workflow
 * has closed; without one, or when the history cannot be read, from the final state it handed over.
 */
import { log } from '@temporalio/activity';
import type { Client } from '@temporalio/client';
import { generateIncidentReport, reportFromState } from '../common/report/index';
import type { IncidentState } from '../definitions/types';
import { describeError } from '../definitions/errors';

export interface ReportDeps {
  temporal?: Client;
  /** Exact secret values that must never reach a report (the worker's config secrets). */
  secrets?: readonly string[];
  /** How long to wait for the incident workflow to close before reading its history. */
  waitForCloseMs?: number;
}

export interface DraftInput {
  workflowId: string;
  runId?: string;
  state: IncidentState;
}

export interface Draft {
  markdown: string;
  source: 'history' | 'state';
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export const createReportActivities = (deps: ReportDeps) => ({
  async draftIncidentReport(input: DraftInput): Promise<Draft> {
    const client = deps.temporal;
    if (client) {
      try {
        // The incident starts its follow-up just before it completes: wait for the final events.
        const handle = client.workflow.getHandle(input.workflowId, input.runId);
        const deadline = Date.now() + (deps.waitForCloseMs ?? 15_000);
        while ((await handle.describe()).status.name === 'RUNNING' && Date.now() < deadline) await sleep(250);
        const markdown = await generateIncidentReport(client, input.workflowId, {
          runId: input.runId,
          state: input.state,
          secrets: deps.secrets,
          queryLiveState: false,
        });
        return { markdown, source: 'history' };
      } catch (err) {
        log.warn('incident history unavailable; drafting the report from the final state', {
          error: describeError(err),
        });
      }
    }
    return {
      markdown: reportFromState(input.state, { workflowId: input.workflowId, secrets: deps.secrets }),
      source: 'state',
    };
  },
});
