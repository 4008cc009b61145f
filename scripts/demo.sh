#!/usr/bin/env bash
# The main job on local defaults: the local stack (Temporal dev server with its Web UI, PostgreSQL,
# Redis, stripe-mock, Docker, the sandbox AccuBooks API, Prometheus), a demo inbox for pages and
# approval codes, the runbook worker and the alert intake; then one real incident, started by
# detection: a fault is injected into the sandbox API, the Prometheus rule fires, Alertmanager
# notifies the intake, the intake starts the runbook; each hop is printed as it happens, up to
# Alertmanager's resolved notification. Ctrl-C stops everything.
#
#   scripts/demo.sh                   # everything, plus one P0-1 incident (the API crashes)
#   scripts/demo.sh --fault F         # F: crash (P0-1), pool (P0-2), errors (P1-1), latency (P1-2),
#                                     #    queue (P1-3)
#   scripts/demo.sh --no-incident     # everything, no incident
#   KEEP_STACK=1 scripts/demo.sh      # leave the stack running after Ctrl-C
#   STACK_ALERT_TIMING=production scripts/demo.sh   # the runbook's `for:` (3-10 min) instead of
#                                     # the demo's seconds (scripts/stack.sh)
#   DEMO_RESOLVE_WINDOW_MS=0 scripts/demo.sh --fault errors   # the seed's "stays healthy for" windows
#                                     # (5-10 min) instead of the demo's 60 s for P0-2 and P1-x
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ABK_REPO"
export STACK_DIR="${STACK_DIR:-$ABK_REPO/.stack}"
INCIDENT=1
FAULT=crash
while (($#)); do
  case "$1" in
    --no-incident) INCIDENT=0 ;;
    --fault)
      FAULT="${2:-}"
      shift
      ;;
    *) abk_die "unknown argument '$1' (use --fault crash|pool|errors|latency|queue, or --no-incident)" ;;
  esac
  shift
done
# The fault, the sandbox's fault injection for it, and the rule and runbook it sets off.
case "$FAULT" in
  crash) FAULT_SPEC='{"fault":"crash"}' ALERT=SystemUnreachable RUNBOOK=P0-1 ;;
  pool) FAULT_SPEC='{"fault":"leak-pool","count":10,"ttlSeconds":120}' ALERT=DatabasePoolExhaustion RUNBOOK=P0-2 ;;
  errors) FAULT_SPEC='{"fault":"error-rate","rate":0.5,"ttlSeconds":120}' ALERT=HighErrorRate RUNBOOK=P1-1 ;;
  latency) FAULT_SPEC='{"fault":"slow-queries","seconds":2,"ttlSeconds":120}' ALERT=HighLatency RUNBOOK=P1-2 ;;
  queue) FAULT_SPEC='{"fault":"queue-flood","jobs":1000}' ALERT=QueueOverflow RUNBOOK=P1-3 ;;
  *) abk_die "--fault must be one of crash, pool, errors, latency, queue (got '$FAULT')" ;;
esac
# Detection in seconds, not minutes (see scripts/stack.sh); a stack already up keeps its timing.
export STACK_ALERT_TIMING="${STACK_ALERT_TIMING:-fast}"

scripts/setup.sh
npm run --silent build
scripts/stack.sh up >/dev/null
# shellcheck disable=SC1091
source "$STACK_DIR/env"

PIDS=()
cleanup() {
  trap - EXIT INT TERM
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [[ "${KEEP_STACK:-0}" != 1 ]]; then scripts/stack.sh down; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

read -r INBOX_HTTP INBOX_SMTP WORKER_HEALTH WORKER_SDK_METRICS <<<"$(abk_free_ports 4)"
node dist/scripts/demo-inbox.js "$INBOX_HTTP" "$INBOX_SMTP" "$STACK_DIR/inbox.log" >"$STACK_DIR/inbox.out" 2>&1 &
PIDS+=($!)

export NOTIFY_SLACK_WEBHOOK_URL="http://127.0.0.1:$INBOX_HTTP/chat"
export NOTIFY_PAGERDUTY_EVENTS_URL="http://127.0.0.1:$INBOX_HTTP/v2/enqueue"
export PAGERDUTY_ROUTING_KEY="demo-routing-key"
export SMTP_URL="smtp://127.0.0.1:$INBOX_SMTP"
export WORKER_HEALTH_PORT="$WORKER_HEALTH"
export WORKER_SDK_METRICS_PORT="$WORKER_SDK_METRICS"
export EVIDENCE_DIR="$STACK_DIR/evidence"
[[ -f config/demo-approvers.json && -z "${APPROVERS_FILE:-}" ]] && export APPROVERS_FILE="$ABK_REPO/config/demo-approvers.json"

# Both threads' young generation from WORKER_V8_SEMI_SPACE_MB, as `npm run worker` starts it (worker/memory.ts).
node --max-semi-space-size="${WORKER_V8_SEMI_SPACE_MB:-2}" dist/worker/main.js >"$STACK_DIR/worker.log" 2>&1 &
PIDS+=($!)
if [[ -f dist/client/intake/main.js ]]; then
  # Where the stack's Alertmanager sends, with the token it sends (scripts/stack.sh).
  export INTAKE_PORT="$STACK_INTAKE_PORT"
  export INTAKE_BEARER_TOKEN="$STACK_INTAKE_TOKEN"
  # Alert storms are folded in the stack's Redis, as production would run it.
  export INTAKE_FOLD_REDIS_URL="${INTAKE_FOLD_REDIS_URL:-$REDIS_URL}"
  # The metric runbooks resolve after their measure stays healthy for a window (the seed: 5 to 10
  # minutes); the demo shortens it (a policy override the intake passes on; not a gate field) so
  # the terminal reaches "resolved" in about a minute. DEMO_RESOLVE_WINDOW_MS=0 keeps the seed's.
  window="${DEMO_RESOLVE_WINDOW_MS:-60000}"
  if [[ -z "${INTAKE_RUNBOOK_POLICIES:-}" && "$window" != 0 ]]; then
    export INTAKE_RUNBOOK_POLICIES="{\"P0-2\":{\"resolveWindowMs\":$window},\"P1-1\":{\"resolveWindowMs\":$window},\"P1-2\":{\"resolveWindowMs\":$window},\"P1-3\":{\"resolveWindowMs\":$window}}"
  fi
  node dist/client/intake/main.js >"$STACK_DIR/intake.log" 2>&1 &
  PIDS+=($!)
fi

for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:$WORKER_HEALTH/healthz" >/dev/null 2>&1 && break
  sleep 0.2
done
curl -fsS "http://127.0.0.1:$WORKER_HEALTH/healthz" >/dev/null || abk_die "worker did not start; see $STACK_DIR/worker.log"

cat <<MSG

  AccuBooks runbooks demo is running.
    Temporal Web UI   $TEMPORAL_UI_URL/namespaces/default/workflows
    Sandbox API       $ACCUBOOKS_API_URL/api/monitoring/health
    Prometheus        $PROMETHEUS_URL   (rules: $PROMETHEUS_URL/alerts)
    Alertmanager      $ALERTMANAGER_URL   (timing: $STACK_ALERT_TIMING)
    Worker health     http://127.0.0.1:$WORKER_HEALTH/healthz      (log: $STACK_DIR/worker.log, JSON lines)
    Worker metrics    http://127.0.0.1:$WORKER_HEALTH/metrics (incidents)  http://127.0.0.1:$WORKER_SDK_METRICS/metrics (Temporal SDK)
    Pages and codes   $STACK_DIR/inbox.log (also printed below)
MSG
if [[ -f dist/client/intake/main.js ]]; then
  cat <<MSG
    Alert intake      http://127.0.0.1:$INTAKE_PORT  (Authorization: Bearer $INTAKE_BEARER_TOKEN)
MSG
fi
if [[ -n "${APPROVERS_FILE:-}" ]]; then
  cat <<MSG

  Approvals (P0-3 resume billing, P0-4 restart): approvers from $APPROVERS_FILE
$(node -e 'const { parseApprovers } = require("./dist/config/approvers");
for (const a of parseApprovers(undefined, process.argv[1]).directory.approvers)
  console.log(`    ${a.id.padEnd(8)} ${a.roles.join("/").padEnd(6)} ${a.email ?? "(personal webhook)"}`);' "$APPROVERS_FILE")
    One-time codes arrive by email in the inbox below ([email to ...] lines), with the signal and JSON
    to paste into the Temporal UI's "Send a Signal", or approve from the CLI:
      node dist/client/cli.js approve <workflowId> --by ceo --code <code> --reason "<why>"
    Try one:  node dist/client/cli.js trigger P0-3 --target $ACCUBOOKS_API_CONTAINER --charge ch_demo1 --description "demo: charged twice"
    Waiting:  node dist/client/cli.js list --awaiting-approval
MSG
fi
cat <<MSG

  In another terminal:  source $STACK_DIR/env && node dist/client/cli.js --help

MSG

if ((INCIDENT)); then
  echo "  Watch it: $TEMPORAL_UI_URL/namespaces/default/workflows/incident-$RUNBOOK-$ACCUBOOKS_API_CONTAINER"
  echo "  Detection, hop by hop (seconds since the fault):"
  t0="$(abk_now_ms)"
  printf '  +%6s s  fault injected: %s\n' 0.0 "$FAULT_SPEC"
  # The API may die before it answers (crash).
  curl -fsS --max-time 5 -X POST -H 'content-type: application/json' -d "$FAULT_SPEC" \
    "$ACCUBOOKS_API_URL/api/sandbox/faults" >/dev/null 2>&1 || true
  node dist/scripts/demo-watch.js "$ALERT" "$RUNBOOK" "$ACCUBOOKS_API_CONTAINER" "$STACK_DIR/intake.log" "$t0" ||
    abk_warn "the loop did not complete; see $STACK_DIR/intake.log, $STACK_DIR/worker.log and $STACK_DIR/alertmanager.log"
fi
echo "  Ctrl-C to stop."
tail -n +1 -f "$STACK_DIR/inbox.out" &
PIDS+=($!)
wait "${PIDS[1]}"
