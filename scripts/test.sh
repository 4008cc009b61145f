#!/usr/bin/env bash
# The project's test command (.ci/run calls it): setup, build, lint + format check, the local
# stack, then every Jest suite against it. Extra arguments go to Jest, e.g.
#   scripts/test.sh test/activities            # one folder
#   KEEP_STACK=1 scripts/test.sh -t 'restart'   # keep the stack up afterwards (reused next run)
#
# Environment:
#   STACK_DIR   the test stack's folder (default .stack/test, apart from the demo stack in .stack)
#   KEEP_STACK  1 = do not stop the stack at the end
#   SKIP_CLUSTER  1 = skip the two-node cluster stage (scripts/test-cluster.sh)
#   SKIP_IMAGE  1 = skip the image stage (scripts/test-image.sh)
#   STACK_ALERT_TIMING  default fast here: the rules' `for:` and Alertmanager's waits in seconds, so
#               that test/alerting/ runs the whole detection loop quickly (scripts/stack.sh)
#   STACK_ALERT_RATE_WINDOW  default 15s here: the rules' rate() range with fast timing (1m in the
#               rules; '' keeps it), so that a fault's rate shows and fades in seconds (scripts/stack.sh)
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ABK_REPO"

export STACK_DIR="${STACK_DIR:-$ABK_REPO/.stack/test}"
export STACK_ALERT_TIMING="${STACK_ALERT_TIMING:-fast}"
export STACK_ALERT_RATE_WINDOW="${STACK_ALERT_RATE_WINDOW-15s}"
T_ALL="$(abk_now_ms)"
STAGE=""
STAGE_T=0
SUMMARY=()
STACK_STARTED=""

stage() {
  end_stage
  STAGE="$1"
  STAGE_T="$(abk_now_ms)"
  printf '\n==================== [%s] %s ====================\n' "$(date +%T)" "$STAGE"
}
end_stage() {
  if [[ -n "$STAGE" ]]; then
    local took
    took="$(abk_since "$STAGE_T")"
    printf -- '-------------------- %s: ok (%s)\n' "$STAGE" "$took"
    SUMMARY+=("$(printf '%-28s %s' "$STAGE" "$took")")
    STAGE=""
  fi
}

on_exit() {
  local rc=$?
  trap - EXIT INT TERM
  if ((rc != 0)) && [[ -n "$STAGE" ]]; then
    printf '\n-------------------- %s: FAILED (exit %s, after %s)\n' "$STAGE" "$rc" "$(abk_since "$STAGE_T")"
    SUMMARY+=("$(printf '%-28s FAILED' "$STAGE")")
  fi
  if [[ -n "$STACK_STARTED" ]]; then
    if [[ "${KEEP_STACK:-0}" == 1 ]]; then
      printf '\nKEEP_STACK=1: the stack stays up (source %s/env; stop it with: STACK_DIR=%s scripts/stack.sh down)\n' "$STACK_DIR" "$STACK_DIR"
    else
      local t
      t="$(abk_now_ms)"
      printf '\n==================== [%s] stack down ====================\n' "$(date +%T)"
      scripts/stack.sh down || rc=1
      SUMMARY+=("$(printf '%-28s %s' "stack down" "$(abk_since "$t")")")
    fi
  fi
  printf '\n==================== summary ====================\n'
  printf '  %s\n' "${SUMMARY[@]}"
  printf '  %-28s %s\n' "total" "$(abk_since "$T_ALL")"
  if ((rc == 0)); then echo "test.sh: OK"; else echo "test.sh: FAILED (exit $rc)"; fi
  exit "$rc"
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

stage "setup"
scripts/setup.sh

stage "build (npm run build)"
npm run --silent build

stage "lint + format check"
npm run --silent lint
npm run --silent format:check

stage "alert rules (promtool)"
promtool check rules alerts/*.yml
promtool test rules alerts/tests/*.test.yml

stage "stack up"
STACK_STARTED=1
scripts/stack.sh up >/dev/null
scripts/stack.sh status

stage "jest"
# shellcheck disable=SC1091
source "$STACK_DIR/env"
mkdir -p test-artifacts
results="test-artifacts/jest-results.json"
rm -f "$results"
jest_rc=0
# --forceExit: a keep-alive socket left by a library must not hold CI until its time limit.
npx jest --runInBand --forceExit --json --outputFile="$results" "$@" || jest_rc=$?
# A plain closing line with the counts (CI reads it to tell that tests ran); none without results.
if [[ -f "$results" ]]; then abk_jest_summary "" "$results"; fi
if ((jest_rc != 0)); then exit "$jest_rc"; fi
end_stage

stage "secret scan (histories raw + logs)"
# Every history on the dev server as stored (no codec) and every log: no secret, no approval code in clear.
node dist/scripts/secret-scan.js
end_stage

stage "cluster (scripts/test-cluster.sh)"
# The runbooks on a two-node Temporal cluster on PostgreSQL behind HAProxy (issue 10), with a stack
# of its own (.stack/cluster-test). The main stack goes down first, so the two never share the
# machine. Skipped when Jest arguments select suites, or with SKIP_CLUSTER=1.
if (($# == 0)) && [[ "${SKIP_CLUSTER:-0}" != 1 ]]; then
  if [[ -n "$STACK_STARTED" && "${KEEP_STACK:-0}" != 1 ]]; then
    scripts/stack.sh down >/dev/null
    STACK_STARTED=""
  fi
  scripts/test-cluster.sh
else
  echo "skipped (Jest arguments given, or SKIP_CLUSTER=1)"
fi
end_stage

stage "chaos (scripts/test-chaos.sh)"
# Dependency outages (PostgreSQL, Redis, Docker, stripe-mock, Prometheus, receivers stopped while
# runbooks run) and the worker-crash harness (issue 11), on a stack of their own (.stack/chaos).
# The crash harness kills the worker at every activity of P0-1, P0-3 and P0-4 here (restarts,
# refunds with their idempotency keys, approvals); FULL_CHAOS=1 (or scripts/test-chaos.sh alone)
# runs all seven runbooks. Skipped when Jest arguments select suites, or with SKIP_CHAOS=1.
if (($# == 0)) && [[ "${SKIP_CHAOS:-0}" != 1 ]]; then
  if [[ -n "$STACK_STARTED" && "${KEEP_STACK:-0}" != 1 ]]; then
    scripts/stack.sh down >/dev/null
    STACK_STARTED=""
  fi
  if [[ "${FULL_CHAOS:-0}" == 1 ]]; then
    scripts/test-chaos.sh
  else
    CHAOS_RUNBOOKS="${CHAOS_RUNBOOKS:-P0-1,P0-3,P0-4}" scripts/test-chaos.sh
  fi
else
  echo "skipped (Jest arguments given, or SKIP_CHAOS=1)"
fi
end_stage

stage "image (scripts/test-image.sh)"
# The image (Dockerfile, issue 22) built on a locally made Node 24 base, checked (non-root, read-only
# root, no secret in its layers, health checks) and running P0-1 end to end as the intake and the
# worker, on a stack of its own (.stack/image). Skipped when Jest arguments select suites, or with
# SKIP_IMAGE=1.
if (($# == 0)) && [[ "${SKIP_IMAGE:-0}" != 1 ]]; then
  if [[ -n "$STACK_STARTED" && "${KEEP_STACK:-0}" != 1 ]]; then
    scripts/stack.sh down >/dev/null
    STACK_STARTED=""
  fi
  scripts/test-image.sh
else
  echo "skipped (Jest arguments given, or SKIP_IMAGE=1)"
fi
end_stage
