#!/usr/bin/env bash
# The project's test command (.ci/run calls it): setup, build, lint + format check, the local
# stack, then every Jest suite against it, then the cluster, chaos (crash, outages) and image stages
# at the same time, each on a stack of its own (33 min in a fresh clone on a 2-core machine, the
# stages 4.3 of it; 35 to 37 min when the stages ran one after the other, 9.3 of it). Extra arguments
# go to Jest (and skip the stages), e.g.
#   scripts/test.sh test/activities            # one folder
#   KEEP_STACK=1 scripts/test.sh -t 'restart'   # keep the stack up afterwards (reused next run)
#
# Environment:
#   STACK_DIR   the test stack's folder (default .stack/test, apart from the demo stack in .stack)
#   KEEP_STACK  1 = do not stop the stack at the end
#   SKIP_CLUSTER  1 = skip the two-node cluster stage (scripts/test-cluster.sh)
#   SKIP_CHAOS  1 = skip the chaos stage (scripts/test-chaos.sh)
#   SKIP_IMAGE  1 = skip the image stage (scripts/test-image.sh)
#   FULL_CHAOS  1 = the chaos stage's worker-crash harness on all seven runbooks (default
#               CHAOS_RUNBOOKS, or P0-1,P0-3,P0-4)
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
STACK_UP_PID=""

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
    SUMMARY+=("$(printf '%-34s %s' "$STAGE" "$took")")
    STAGE=""
  fi
}

BG_NAMES=()
BG_PIDS=()
BG_T0=()

# bg_stage NAME COMMAND...: starts a stage in the background, in a session of its own (setsid), so
# that on_exit can stop it with its Jest and workers as one group (its own trap then stops its stack).
bg_stage() {
  local name="$1"
  shift
  setsid -w "$@" >"test-artifacts/stage-$name.log" 2>&1 </dev/null &
  BG_NAMES+=("$name")
  BG_PIDS+=("$!")
  BG_T0+=("$(abk_now_ms)")
  printf '[%s] %s started (pid %s, log test-artifacts/stage-%s.log)\n' "$(date +%T)" "$name" "$!" "$name"
}

# Waits for every background stage; prints each one's log as it ends. Returns the exit code of the
# first stage (in start order) that failed, 0 when all passed.
wait_bg_stages() {
  local -a rcs=()
  local -a running
  local pid rc i first=0 took
  while :; do
    running=()
    for pid in "${BG_PIDS[@]}"; do [[ -z "$pid" ]] || running+=("$pid"); done
    ((${#running[@]} > 0)) || break
    pid=""
    rc=0
    wait -n -p pid "${running[@]}" || rc=$?
    [[ -n "$pid" ]] || break # nothing left to wait for
    for i in "${!BG_PIDS[@]}"; do
      [[ "${BG_PIDS[$i]}" == "$pid" ]] || continue
      rcs[i]=$rc
      took="$(abk_since "${BG_T0[$i]}")"
      printf '\n-------------------- [%s] %s ended (%s): log test-artifacts/stage-%s.log\n' \
        "$(date +%T)" "${BG_NAMES[$i]}" "$took" "${BG_NAMES[$i]}"
      cat "test-artifacts/stage-${BG_NAMES[$i]}.log"
      if ((rc == 0)); then
        printf -- '-------------------- %s: ok (%s)\n' "${BG_NAMES[$i]}" "$took"
        SUMMARY+=("$(printf '  %-32s %s' "${BG_NAMES[$i]}" "$took")")
      else
        printf -- '-------------------- %s: FAILED (exit %s, after %s)\n' "${BG_NAMES[$i]}" "$rc" "$took"
        SUMMARY+=("$(printf '  %-32s FAILED (exit %s, after %s)' "${BG_NAMES[$i]}" "$rc" "$took")")
      fi
      BG_PIDS[i]=""
    done
  done
  BG_PIDS=()
  for i in "${!rcs[@]}"; do
    if ((first == 0 && rcs[i] != 0)); then first=${rcs[i]}; fi
  done
  return "$first"
}

# On an interrupt or a failure: stops the stages still running (TERM to each one's group) and waits
# for them, so that each stops its own stack.
stop_bg_stages() {
  local pid
  for pid in "${BG_PIDS[@]}"; do
    [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null || continue
    printf 'stopping background stage pid %s\n' "$pid"
    kill -TERM -- "-$pid" 2>/dev/null || true
  done
  for pid in "${BG_PIDS[@]}"; do
    [[ -n "$pid" ]] && wait "$pid" 2>/dev/null || true
  done
}

on_exit() {
  local rc=$?
  trap - EXIT INT TERM
  stop_bg_stages
  # A stack still coming up (lint failed meanwhile) is stopped below once it is up.
  if [[ -n "$STACK_UP_PID" ]]; then wait "$STACK_UP_PID" 2>/dev/null || true; fi
  if ((rc != 0)) && [[ -n "$STAGE" ]]; then
    printf '\n-------------------- %s: FAILED (exit %s, after %s)\n' "$STAGE" "$rc" "$(abk_since "$STAGE_T")"
    SUMMARY+=("$(printf '%-34s FAILED' "$STAGE")")
  fi
  if [[ -n "$STACK_STARTED" ]]; then
    if [[ "${KEEP_STACK:-0}" == 1 ]]; then
      printf '\nKEEP_STACK=1: the stack stays up (source %s/env; stop it with: STACK_DIR=%s scripts/stack.sh down)\n' "$STACK_DIR" "$STACK_DIR"
    else
      local t
      t="$(abk_now_ms)"
      printf '\n==================== [%s] stack down ====================\n' "$(date +%T)"
      scripts/stack.sh down || rc=1
      SUMMARY+=("$(printf '%-34s %s' "stack down" "$(abk_since "$t")")")
    fi
  fi
  printf '\n==================== summary ====================\n'
  printf '  %s\n' "${SUMMARY[@]}"
  printf '  %-34s %s\n' "total" "$(abk_since "$T_ALL")"
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
# The stack comes up (its sandbox image needs dist/) while lint and the rule checks run; its output
# (stderr: what came up, in how long) is printed at "stack up".
mkdir -p test-artifacts
STACK_STARTED=1
scripts/stack.sh up >/dev/null 2>test-artifacts/stack-up.log &
STACK_UP_PID=$!

stage "lint + format check"
npm run --silent lint
npm run --silent format:check

stage "alert rules (promtool)"
promtool check rules alerts/*.yml
promtool test rules alerts/tests/*.test.yml

stage "stack up (begun after the build)"
stack_up_rc=0
wait "$STACK_UP_PID" || stack_up_rc=$?
STACK_UP_PID=""
cat test-artifacts/stack-up.log >&2
((stack_up_rc == 0)) || exit "$stack_up_rc"
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

# The stages after Jest, each a script that also runs alone, on a stack of its own (its own Docker
# engine, PostgreSQL, Redis, stripe-mock, Temporal, Prometheus: nothing shared, ports picked free),
# run at the same time: the run then takes as long as the longest of them, not their sum.
# Skipped when Jest arguments select suites, or one by one with SKIP_CLUSTER=1, SKIP_CHAOS=1,
# SKIP_IMAGE=1.
#   cluster  the runbooks on a two-node Temporal cluster on PostgreSQL behind HAProxy (issue 10)
#   chaos-crash    the worker-crash harness (issue 11, scripts/test-chaos.sh crash, .stack/chaos):
#            it kills the worker at every activity of P0-1, P0-3 and P0-4 here (restarts, refunds
#            with their idempotency keys, approvals); FULL_CHAOS=1 (or scripts/test-chaos.sh alone)
#            runs all seven runbooks
#   chaos-outages  dependency outages (scripts/test-chaos.sh outages, .stack/chaos-outages):
#            PostgreSQL, Redis, Docker, stripe-mock, Prometheus, receivers stopped while runbooks run
#   image    the image (Dockerfile, issue 22) built on a locally made Node 24 base, checked (non-root,
#            read-only root, no secret in its layers, health checks) and running P0-1 end to end as
#            the intake and the worker
# Each one's output goes to test-artifacts/stage-<name>.log, printed whole when it ends; each has its
# own line in the summary, and the run fails with the exit code of the first that failed.
stage "cluster, chaos, image at once"
if (($# == 0)); then
  if [[ -n "$STACK_STARTED" && "${KEEP_STACK:-0}" != 1 ]]; then
    # The main stack goes first: the stages' three stacks then have the machine.
    scripts/stack.sh down >/dev/null
    STACK_STARTED=""
  fi
  if [[ "${SKIP_CLUSTER:-0}" != 1 ]]; then bg_stage cluster scripts/test-cluster.sh; else echo "cluster: skipped (SKIP_CLUSTER=1)"; fi
  if [[ "${SKIP_CHAOS:-0}" == 1 ]]; then
    echo "chaos: skipped (SKIP_CHAOS=1)"
  else
    crash_env=(CHAOS_RUNBOOKS="${CHAOS_RUNBOOKS:-P0-1,P0-3,P0-4}")
    if [[ "${FULL_CHAOS:-0}" == 1 ]]; then crash_env=(); fi
    bg_stage chaos-crash env STACK_DIR="$ABK_REPO/.stack/chaos" "${crash_env[@]}" \
      CHAOS_RESULTS=test-artifacts/jest-chaos-crash-results.json scripts/test-chaos.sh crash
    bg_stage chaos-outages env STACK_DIR="$ABK_REPO/.stack/chaos-outages" \
      CHAOS_RESULTS=test-artifacts/jest-chaos-outages-results.json scripts/test-chaos.sh outages
  fi
  if [[ "${SKIP_IMAGE:-0}" != 1 ]]; then bg_stage image scripts/test-image.sh; else echo "image: skipped (SKIP_IMAGE=1)"; fi
  wait_bg_stages
else
  echo "skipped (Jest arguments given)"
fi
end_stage
