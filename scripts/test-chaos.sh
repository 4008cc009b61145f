#!/usr/bin/env bash
# The chaos suites (issue 11), alone: every test file in test/chaos/ (worker crashes at every step,
# dependency outages) on their own stack in .stack/chaos, which is torn down at the end even on
# failure. Builds first when dist/ is missing or older than the sources. Extra arguments go to Jest,
# within test/chaos/: e.g. `scripts/test-chaos.sh crash` runs only crash.test.ts (scripts/test.sh
# runs crash and outages this way at the same time, each on a stack of its own).
#
# Environment:
#   STACK_DIR        the chaos stack's folder (default .stack/chaos)
#   CHAOS_RESULTS    Jest's JSON results (default test-artifacts/jest-chaos-results.json)
#   KEEP_STACK       1 = leave the stack up afterwards (it is then reused by the next run)
#   CHAOS_RUNBOOKS   e.g. P0-1,P1-3: only these runbooks in the worker-crash harness
#   CHAOS_PARALLEL   runbooks run at once by the worker-crash harness (default 3)
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=scripts/stage-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/stage-lib.sh"
cd "$ABK_REPO"

export STACK_DIR="${STACK_DIR:-$ABK_REPO/.stack/chaos}"
ABK_STAGE=test-chaos
abk_stage_traps

abk_stage_build_if_stale dist/worker/main.js definitions common activities workflows worker client config sandbox rig
abk_stage_stack_up
# shellcheck disable=SC1091
source "$STACK_DIR/env"

mkdir -p test-artifacts
results="${CHAOS_RESULTS:-test-artifacts/jest-chaos-results.json}"
rm -f "$results"
jest_rc=0
# The main jest config ignores test/chaos/; this run is only test/chaos/ (or what the arguments select
# in it).
npx jest --roots='<rootDir>/test/chaos' --testPathIgnorePatterns='/node_modules/' \
  --runInBand --forceExit --json --outputFile="$results" "$@" || jest_rc=$?
abk_jest_summary "chaos${1:+ $*}" "$results"
exit "$jest_rc"
