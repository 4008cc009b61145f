#!/usr/bin/env bash
# The chaos suites (issue 11), alone: every test file in test/chaos/ (worker crashes at every step,
# dependency outages) on their own stack in .stack/chaos, which is torn down at the end even on
# failure. Builds first when dist/ is missing or older than the sources. Extra arguments go to Jest.
#
# Environment:
#   STACK_DIR        the chaos stack's folder (default .stack/chaos)
#   KEEP_STACK       1 = leave the stack up afterwards (it is then reused by the next run)
#   CHAOS_RUNBOOKS   e.g. P0-1,P1-3: only these runbooks in the worker-crash harness
#   CHAOS_PARALLEL   runbooks run at once by the worker-crash harness (default 3)
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ABK_REPO"

export STACK_DIR="${STACK_DIR:-$ABK_REPO/.stack/chaos}"
T0="$(abk_now_ms)"
STACK_STARTED=""

on_exit() {
  local rc=$?
  trap - EXIT INT TERM
  if [[ -n "$STACK_STARTED" ]]; then
    if [[ "${KEEP_STACK:-0}" == 1 ]]; then
      abk_log "KEEP_STACK=1: the stack stays up (STACK_DIR=$STACK_DIR scripts/stack.sh down to stop it)"
    else
      scripts/stack.sh down >/dev/null 2>&1 || {
        abk_warn "stack down failed"
        rc=1
      }
    fi
  fi
  abk_log "total $(abk_since "$T0")"
  if ((rc == 0)); then echo "test-chaos.sh: OK"; else echo "test-chaos.sh: FAILED (exit $rc)"; fi
  exit "$rc"
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Build when dist is missing or older than any source.
if [[ ! -f dist/worker/main.js ]] ||
  [[ -n "$(find definitions common activities workflows worker client config sandbox rig -name '*.ts' -newer dist/worker/main.js -print -quit)" ]]; then
  abk_log "building (npm run build)"
  npm run --silent build
fi

# A stack already up (KEEP_STACK=1 earlier) is reused and left up; one started here is stopped.
if scripts/stack.sh status >/dev/null 2>&1; then
  abk_log "reusing the stack already up in $STACK_DIR"
else
  STACK_STARTED=1
  abk_log "stack up in $STACK_DIR"
  scripts/stack.sh up >/dev/null
fi
# shellcheck disable=SC1091
source "$STACK_DIR/env"

mkdir -p test-artifacts
results="test-artifacts/jest-chaos-results.json"
rm -f "$results"
jest_rc=0
# The main jest config ignores test/chaos/; this run is only test/chaos/.
npx jest --runInBand --forceExit --testPathIgnorePatterns '/node_modules/' --json --outputFile="$results" \
  test/chaos "$@" || jest_rc=$?
if [[ -f "$results" ]]; then
  # shellcheck disable=SC2016  # JavaScript, not shell
  node -e '
    const r = require(require("path").resolve(process.argv[1]));
    const skipped = r.numPendingTests + r.numTodoTests;
    console.log(`jest (chaos): ${r.numPassedTests} passed, ${r.numFailedTests} failed, ${skipped} skipped`);
  ' "$results" || true
else
  echo "jest (chaos): 0 passed, 0 failed, 0 skipped (no results file)"
fi
exit "$jest_rc"
