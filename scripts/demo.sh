#!/usr/bin/env bash
# The main job on local defaults: the local stack (Temporal dev server with its Web UI, PostgreSQL,
# Redis, stripe-mock, Docker, the sandbox AccuBooks API, Prometheus), a demo inbox for pages and
# approval codes, the runbook worker and the alert intake; then one real incident to watch:
# the sandbox API is crashed and runbook P0-1 is started. Ctrl-C stops everything.
#
#   scripts/demo.sh                 # everything, plus one P0-1 incident
#   scripts/demo.sh --no-incident   # everything, no incident
#   KEEP_STACK=1 scripts/demo.sh    # leave the stack running after Ctrl-C
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ABK_REPO"
export STACK_DIR="${STACK_DIR:-$ABK_REPO/.stack}"
INCIDENT=1
[[ "${1:-}" == "--no-incident" ]] && INCIDENT=0

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

read -r INBOX_HTTP INBOX_SMTP INTAKE_PORT WORKER_HEALTH WORKER_SDK_METRICS <<<"$(abk_free_ports 5)"
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

node dist/worker/main.js >"$STACK_DIR/worker.log" 2>&1 &
PIDS+=($!)
if [[ -f dist/client/intake/main.js ]]; then
  export INTAKE_PORT
  INTAKE_BEARER_TOKEN="${INTAKE_BEARER_TOKEN:-$(abk_secret)}"
  export INTAKE_BEARER_TOKEN
  # Alert storms are folded in the stack's Redis, as production would run it.
  export INTAKE_FOLD_REDIS_URL="${INTAKE_FOLD_REDIS_URL:-$REDIS_URL}"
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
    Prometheus        $PROMETHEUS_URL
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
  abk_log "crashing the sandbox API and starting runbook P0-1 (System down)"
  curl -fsS -X POST -H 'content-type: application/json' -d '{"fault":"crash"}' \
    "$ACCUBOOKS_API_URL/api/sandbox/faults" >/dev/null 2>&1 || true
  sleep 1
  node dist/client/cli.js trigger P0-1 --target "$ACCUBOOKS_API_CONTAINER" --by demo --description "demo: injected crash"
  echo "  Watch it: $TEMPORAL_UI_URL/namespaces/default/workflows/incident-P0-1-$ACCUBOOKS_API_CONTAINER"
fi
echo "  Ctrl-C to stop."
tail -n +1 -f "$STACK_DIR/inbox.out" &
PIDS+=($!)
wait "${PIDS[1]}"
