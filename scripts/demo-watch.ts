/**
 * The demo's hop-by-hop view of one detection: prints each hop as it happens, with the time since
 * the fault was injected: rule pending, rule firing (Prometheus), notification at the intake (its
 * log), incident started, each runbook step, resolved (Temporal), resolved notification (intake).
 *
 *   node dist/scripts/demo-watch.js <alertname> <runbook> <target> <intake-log> <fault-injected-ms>
 *
 * Environment: PROMETHEUS_URL, TEMPORAL_ADDRESS (and the rest of the stack's env file).
 * Exits 0 once the resolved notification reached the intake, 1 after 10 minutes without it.
 */
import { existsSync, readFileSync } from 'node:fs';
import { connectClient } from '../client/connection';
import { incidentWorkflowId, type StartableRunbook } from '../client/incidents';
import { loadTemporalConfig } from '../config/temporal';
import { stateQuery } from '../definitions/messages';
import type { IncidentState } from '../definitions/types';

const [alertName, runbook, target, intakeLog, t0Text] = process.argv.slice(2);
if (!alertName || !runbook || !target || !intakeLog || !t0Text) {
  process.stderr.write('usage: demo-watch <alertname> <runbook> <target> <intake-log> <fault-injected-ms>\n');
  process.exit(2);
}
const t0 = Number(t0Text);
const prometheus = process.env.PROMETHEUS_URL;
if (!prometheus) {
  process.stderr.write('PROMETHEUS_URL is not set: source the stack env file\n');
  process.exit(2);
}

const seen = new Set<string>();
function hop(key: string, text: string, at = Date.now()): void {
  if (seen.has(key)) return;
  seen.add(key);
  const s = ((at - t0) / 1000).toFixed(1).padStart(6);
  process.stdout.write(`  +${s} s  ${text}\n`);
}

async function ruleState(): Promise<void> {
  const res = await fetch(`${prometheus}/api/v1/alerts`, { signal: AbortSignal.timeout(2000) });
  const body = (await res.json()) as {
    data: { alerts: { labels: Record<string, string>; state: string; activeAt: string }[] };
  };
  for (const a of body.data.alerts) {
    if (a.labels.alertname !== alertName || (a.labels.service && a.labels.service !== target)) continue;
    if (a.state === 'pending')
      hop('pending', `rule ${alertName} pending (Prometheus)`, Date.parse(a.activeAt));
    if (a.state === 'firing') {
      hop('pending', `rule ${alertName} pending (Prometheus)`, Date.parse(a.activeAt));
      hop('firing', `rule ${alertName} firing -> Alertmanager`);
    }
  }
}

/** The intake's JSON log lines about this runbook and target (direct or folded). */
function intakeLines(): void {
  if (!existsSync(intakeLog)) return;
  const id = incidentWorkflowId(runbook as StartableRunbook, target);
  for (const raw of readFileSync(intakeLog, 'utf8').split('\n')) {
    if (!raw.includes(id)) continue;
    let l: Record<string, unknown>;
    try {
      l = JSON.parse(raw) as Record<string, unknown>;
    } catch {
      continue;
    }
    const at = typeof l.time === 'number' ? l.time : Date.now();
    if (at < t0) continue;
    const resolved = l.alertStatus === 'resolved' || (typeof l.resolved === 'number' && l.resolved > 0);
    const firing = l.alertStatus === 'firing' || (typeof l.firing === 'number' && l.firing > 0);
    if (firing) hop('received', `notification received by the intake (firing, ${String(l.msg)})`, at);
    if (resolved && seen.has('resolved'))
      hop('resolved-notification', `resolved notification received by the intake (${String(l.msg)})`, at);
  }
}

async function main(): Promise<void> {
  const client = await connectClient(loadTemporalConfig());
  const handle = client.workflow.getHandle(incidentWorkflowId(runbook as StartableRunbook, target));
  const deadline = Date.now() + 10 * 60_000;
  while (Date.now() < deadline) {
    await ruleState().catch(() => undefined);
    intakeLines();
    const d = await handle.describe().catch(() => undefined);
    if (d && d.startTime.getTime() >= t0) {
      const s = await handle.query(stateQuery).catch(() => undefined as IncidentState | undefined);
      hop(
        'started',
        `incident started: ${s?.incidentId ?? d.workflowId} (${runbook})`,
        d.startTime.getTime(),
      );
      for (const step of s?.steps ?? []) {
        if (!seen.has('first-action'))
          hop('first-action', `first runbook step: ${step.title}`, Date.parse(step.startedAt));
        hop(
          `step-${step.name}-${step.startedAt}-${step.status}`,
          `step ${step.name}: ${step.status}${step.result ? ` (${step.result})` : ''}`,
        );
      }
      if (s?.status === 'resolved' || s?.status === 'abandoned')
        hop('resolved', `incident ${s.status}: ${s.outcome ?? ''}`, Date.parse(s.mttr.resolvedAt ?? ''));
    }
    if (seen.has('resolved-notification')) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  await client.connection.close();
  if (!seen.has('resolved-notification')) {
    process.stdout.write('  (no resolved notification within 10 minutes)\n');
    process.exit(1);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`demo-watch failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
