#!/usr/bin/env bash
# The cluster stage (issue 10): the runbooks on the two-node Temporal cluster of scripts/cluster.sh
# (PostgreSQL, HAProxy, Web UI server), with the systems they repair from a test stack of their own
# (scripts/stack.sh in its own STACK_DIR), then only test/cluster (jest.config.js ignores it). Runs
# alone; tears down what it started, even on failure. Extra arguments go to Jest.
#
# Environment:
#   CLUSTER_TEST_STACK_DIR  the stack's folder (default .stack/cluster-test; never the caller's STACK_DIR)
#   CLUSTER_TEST_DIR        the cluster's folder (default .stack/cluster-test/cluster)
#   KEEP_STACK              1 = leave the stack and the cluster up afterwards
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=scripts/stage-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/stage-lib.sh"
cd "$ABK_REPO"

export STACK_DIR="${CLUSTER_TEST_STACK_DIR:-$ABK_REPO/.stack/cluster-test}"
export CLUSTER_DIR="${CLUSTER_TEST_DIR:-$STACK_DIR/cluster}"
mkdir -p "$STACK_DIR" "$CLUSTER_DIR" test-artifacts
ABK_STAGE=test-cluster
CLUSTER_UP_PID=""
# shellcheck disable=SC2317  # invoked by stage-lib.sh's exit trap
abk_stage_before_stop() {
  if [[ -n "$CLUSTER_UP_PID" ]] && kill -0 "$CLUSTER_UP_PID" 2>/dev/null; then
    wait "$CLUSTER_UP_PID" 2>/dev/null || true
  fi
}
abk_stage_traps

t="$(abk_now_ms)"
scripts/setup.sh >/dev/null
abk_log "setup ($(abk_since "$t"))"
if ! abk_stage_build_if_stale dist/worker/main.js definitions common activities workflows worker client config sandbox rig scripts; then
  # The build stage of scripts/test.sh is where a type error fails the run; here only the
  # worker process of the P0-1 end-to-end test needs dist/.
  [[ -f dist/worker/main.js ]] || abk_die "npm run build failed"
  abk_warn "npm run build failed; going on with the existing dist/"
fi

# The cluster (its binaries built once, then cached) comes up beside the stack; stopped first.
if ! scripts/cluster.sh status >/dev/null 2>&1; then ABK_STAGE_STOPS+=("scripts/cluster.sh down"); fi
scripts/cluster.sh up >"$CLUSTER_DIR/up.out" 2>&1 &
CLUSTER_UP_PID=$!
abk_stage_stack_up
if ! wait "$CLUSTER_UP_PID"; then
  CLUSTER_UP_PID=""
  cat "$CLUSTER_DIR/up.out" >&2
  abk_die "cluster up failed"
fi
CLUSTER_UP_PID=""
grep '^\[cluster\]' "$CLUSTER_DIR/up.out" >&2 || true
scripts/cluster.sh status

# The stack's env for the systems the runbooks repair, then the cluster's Temporal address, UI and
# node pids on top: configuration only.
# shellcheck disable=SC1091
source "$STACK_DIR/env"
eval "$(scripts/cluster.sh env)"

results="test-artifacts/jest-cluster-results.json"
rm -f "$results" test-artifacts/cluster-results.json
jest_rc=0
t="$(abk_now_ms)"
# The main jest.config.js, with only test/cluster (which it ignores) and a longer time per test.
npx jest --roots='<rootDir>/test/cluster' --testPathIgnorePatterns='/node_modules/' --testTimeout=300000 \
  --runInBand --forceExit --json --outputFile="$results" "$@" || jest_rc=$?
abk_log "jest (cluster) ran in $(abk_since "$t")"
if [[ -f test-artifacts/cluster-results.json ]]; then
  abk_log "measured (test-artifacts/cluster-results.json):"
  cat test-artifacts/cluster-results.json
fi
abk_jest_summary cluster "$results"
exit "$jest_rc"
