#!/usr/bin/env bash
# The project's test command (.ci/run calls it): setup, build, lint + format check, two local stacks,
# every Jest suite in two halves at once (one per stack, test/setup/shards.js), then the cluster,
# chaos (crash, outages) and image stages at the same time, each on a stack of its own. Extra
# arguments go to Jest on one stack (and skip the stages), e.g.
#   scripts/test.sh test/activities            # one folder
#   KEEP_STACK=1 scripts/test.sh -t 'restart'   # keep the stack up afterwards (reused next run)
#
# Environment:
#   STACK_DIR   the test stack's folder (default .stack/test, apart from the demo stack in .stack)
#   STACK_DIR_2 the second half's stack (default .stack/test-2; the whole run only)
#   KEEP_STACK  1 = do not stop the stacks at the end
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
STACK_DIR_2="${STACK_DIR_2:-$ABK_REPO/.stack/test-2}"
export STACK_ALERT_TIMING="${STACK_ALERT_TIMING:-fast}"
export STACK_ALERT_RATE_WINDOW="${STACK_ALERT_RATE_WINDOW-15s}"
T_ALL="$(abk_now_ms)"
STAGE=""
STAGE_T=0
SUMMARY=()
# The stacks this run brought up (stopped at the end unless KEEP_STACK=1), and the pids still
# bringing them up.
STACKS=()
STACK_UP_PIDS=()
CLUSTER_BUILD_PID=""

stage() {
  end_stage
  STAGE="$1"
  STAGE_T="$(abk_now_ms)"
  printf '\n==================== [%s] %s ====================\n' "$(date +%T)" "$STAGE"
}
end_stage() {
  if [[ -n "$STAGE" ]]; then
    stage_result "$STAGE" "$(abk_since "$STAGE_T")" 0
    STAGE=""
  fi
}
# stage_result NAME TOOK RC [INDENT]: a stage's closing line and its entry in the summary (a
# background stage's entry is indented under the stage that started it).
stage_result() {
  local name="$1" took="$2" rc="$3" indent="${4:-}"
  local label
  label="$(printf '%s%-*s' "$indent" $((34 - ${#indent})) "$name")"
  if ((rc == 0)); then
    printf -- '-------------------- %s: ok (%s)\n' "$name" "$took"
    SUMMARY+=("$label $took")
  else
    printf -- '-------------------- %s: FAILED (exit %s, after %s)\n' "$name" "$rc" "$took"
    SUMMARY+=("$label FAILED (exit $rc, after $took)")
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
      stage_result "${BG_NAMES[$i]}" "$took" "$rc" "  "
      BG_PIDS[i]=""
    done
  done
  BG_NAMES=()
  BG_PIDS=()
  BG_T0=()
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
  if [[ -n "$CLUSTER_BUILD_PID" ]]; then kill -TERM -- "-$CLUSTER_BUILD_PID" 2>/dev/null || true; fi
  # A stack still coming up (lint failed meanwhile) is stopped below once it is up.
  local pid dir
  for pid in "${STACK_UP_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  if ((rc != 0)) && [[ -n "$STAGE" ]]; then
    echo
    stage_result "$STAGE" "$(abk_since "$STAGE_T")" "$rc"
  fi
  for dir in "${STACKS[@]}"; do
    if [[ "${KEEP_STACK:-0}" == 1 ]]; then
      printf '\nKEEP_STACK=1: the stack stays up (source %s/env; stop it with: STACK_DIR=%s scripts/stack.sh down)\n' "$dir" "$dir"
    else
      local t
      t="$(abk_now_ms)"
      printf '\n==================== [%s] stack down (%s) ====================\n' "$(date +%T)" "${dir#"$ABK_REPO"/}"
      STACK_DIR="$dir" scripts/stack.sh down || rc=1
      SUMMARY+=("$(printf '%-34s %s' "stack down (${dir##*/})" "$(abk_since "$t")")")
    fi
  done
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
# The stacks come up (their sandbox image needs dist/) while lint and the rule checks run; each one's
# output (stderr: what came up, in how long) is printed at "stack up". The whole run has two, one
# per half of the Jest suites (below); Jest arguments select suites for one.
mkdir -p test-artifacts
STACKS=("$STACK_DIR")
if (($# == 0)); then STACKS+=("$STACK_DIR_2"); fi
for dir in "${STACKS[@]}"; do
  STACK_DIR="$dir" scripts/stack.sh up >/dev/null 2>"test-artifacts/stack-up-${dir##*/}.log" &
  STACK_UP_PIDS+=("$!")
done
# The cluster stage's Go binaries (the server, its schema tool, the UI server: minutes of both cores
# on a fresh machine) build meanwhile at the lowest CPU priority, in what the suites leave idle, so
# that the cluster stage finds them built instead of building them beside the other stages.
if (($# == 0)) && [[ "${SKIP_CLUSTER:-0}" != 1 ]]; then
  setsid -w nice -n 19 env CLUSTER_DIR="$ABK_REPO/.stack/cluster-test" scripts/cluster.sh build \
    >test-artifacts/cluster-build.log 2>&1 </dev/null &
  CLUSTER_BUILD_PID=$!
fi

stage "lint + format check"
npm run --silent lint
npm run --silent format:check

stage "alert rules (promtool)"
promtool check rules alerts/*.yml
promtool test rules alerts/tests/*.test.yml

stage "stack up (begun after the build)"
stack_up_rc=0
for i in "${!STACKS[@]}"; do
  wait "${STACK_UP_PIDS[$i]}" || stack_up_rc=$?
  cat "test-artifacts/stack-up-${STACKS[$i]##*/}.log" >&2
  STACK_DIR="${STACKS[$i]}" scripts/stack.sh status
done
STACK_UP_PIDS=()
((stack_up_rc == 0)) || exit "$stack_up_rc"

# --forceExit: a keep-alive socket left by a library must not hold CI until its time limit.
jest_args=(--runInBand --forceExit --json)
# "${IN_STACK[@]}" DIR COMMAND...: runs COMMAND with the environment of the stack in DIR (a command
# line, not a function, so that bg_stage can run it in a session of its own).
# shellcheck disable=SC2016  # expanded by the inner bash
IN_STACK=(bash -c 'source "$1/env" && shift && exec "$@"' _)
if (($# > 0)); then
  stage "jest"
  # shellcheck disable=SC1091
  source "$STACK_DIR/env"
  results="test-artifacts/jest-results.json"
  rm -f "$results"
  jest_rc=0
  npx jest "${jest_args[@]}" --outputFile="$results" "$@" || jest_rc=$?
  # A plain closing line with the counts (CI reads it to tell that tests ran); none without results.
  if [[ -f "$results" ]]; then abk_jest_summary "" "$results"; fi
  if ((jest_rc != 0)); then exit "$jest_rc"; fi
else
  # Every suite, in two halves at once, each on its own stack (test/setup/shards.js says which
  # half a suite is in and why): each half's output goes to test-artifacts/stage-jest-<n>.log,
  # printed whole when it ends.
  stage "jest, two halves at once"
  for i in 1 2; do
    rm -f "test-artifacts/jest-results-$i.json"
    bg_stage "jest-$i" "${IN_STACK[@]}" "${STACKS[$((i - 1))]}" npx jest \
      "${jest_args[@]}" --shard="$i/2" --outputFile="test-artifacts/jest-results-$i.json"
  done
  jest_rc=0
  wait_bg_stages || jest_rc=$?
  # One closing line with the counts of both halves (CI reads it to tell that tests ran).
  abk_jest_summary "" test-artifacts/jest-results-1.json test-artifacts/jest-results-2.json
  if ((jest_rc != 0)); then exit "$jest_rc"; fi
fi
end_stage

stage "secret scan (histories raw + logs)"
# Every history on each stack's dev server as stored (no codec) and every log: no secret, no approval
# code in clear.
for dir in "${STACKS[@]}"; do "${IN_STACK[@]}" "$dir" node dist/scripts/secret-scan.js; done
end_stage

# The stages after Jest, each a script that also runs alone, on a stack of its own (its own Docker
# engine, PostgreSQL, Redis, stripe-mock, Temporal, Prometheus: nothing shared, ports picked free
# and claimed by lib.sh's abk_free_ports), run at the same time: the run then takes as long as the
# longest of them, not their sum.
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
if [[ -n "$CLUSTER_BUILD_PID" ]]; then
  build_rc=0
  wait "$CLUSTER_BUILD_PID" || build_rc=$?
  CLUSTER_BUILD_PID=""
  tail -n 3 test-artifacts/cluster-build.log
  ((build_rc == 0)) || echo "the cluster binaries' early build failed (exit $build_rc, test-artifacts/cluster-build.log): the cluster stage builds them"
fi
if (($# == 0)); then
  if [[ "${KEEP_STACK:-0}" != 1 ]]; then
    # The Jest stacks go first: the stages' stacks then have the machine.
    for dir in "${STACKS[@]}"; do STACK_DIR="$dir" scripts/stack.sh down >/dev/null; done
    STACKS=()
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
