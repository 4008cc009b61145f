#!/usr/bin/env bash
# The image stage (issue 22): builds the image (Dockerfile, scripts/image.sh) on a stack of its own
# (.stack/image; its Docker engine keeps the local base and the build cache between runs), then only
# test/image (jest.config.js ignores it): non-root, read-only root, no secret in the layers, health
# checks, and P0-1 end to end with the intake and the worker running from the image. Tears down
# what it started, even on failure. Extra arguments go to Jest.
#
# Environment:
#   IMAGE_TEST_STACK_DIR  the stack's folder (default .stack/image; never the caller's STACK_DIR)
#   KEEP_STACK            1 = leave the stack up afterwards (it is then reused by the next run)
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ABK_REPO"

export STACK_DIR="${IMAGE_TEST_STACK_DIR:-$ABK_REPO/.stack/image}"
T0="$(abk_now_ms)"
STACK_STARTED=""

# shellcheck disable=SC2317  # invoked by the EXIT trap
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
  if ((rc == 0)); then echo "test-image.sh: OK"; else echo "test-image.sh: FAILED (exit $rc)"; fi
  exit "$rc"
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [[ ! -f dist/image/entrypoint.js ]] ||
  [[ -n "$(find definitions common activities workflows worker client config image sandbox rig -name '*.ts' -newer dist/image/entrypoint.js -print -quit)" ]]; then
  abk_log "building (npm run build)"
  npm run --silent build
fi

if scripts/stack.sh status >/dev/null 2>&1; then
  abk_log "reusing the stack already up in $STACK_DIR"
else
  STACK_STARTED=1
  t="$(abk_now_ms)"
  scripts/stack.sh up >/dev/null
  abk_log "stack up in $STACK_DIR ($(abk_since "$t"))"
fi
# shellcheck disable=SC1091
source "$STACK_DIR/env"

mkdir -p test-artifacts
results="test-artifacts/jest-image-results.json"
rm -f "$results" test-artifacts/image-results.json
jest_rc=0
t="$(abk_now_ms)"
npx jest --roots='<rootDir>/test/image' --testPathIgnorePatterns='/node_modules/' --testTimeout=300000 \
  --runInBand --forceExit --json --outputFile="$results" "$@" || jest_rc=$?
abk_log "jest (image) ran in $(abk_since "$t")"
if [[ -f test-artifacts/image-results.json ]]; then
  abk_log "measured (test-artifacts/image-results.json): $(tr -d ' \n' <test-artifacts/image-results.json)"
fi
if [[ -f "$results" ]]; then
  # shellcheck disable=SC2016  # JavaScript, not shell
  node -e '
    const r = require(require("path").resolve(process.argv[1]));
    const skipped = r.numPendingTests + r.numTodoTests;
    console.log(`jest (image): ${r.numPassedTests} passed, ${r.numFailedTests} failed, ${skipped} skipped`);
  ' "$results" || true
else
  echo "jest (image): 0 passed, 0 failed, 0 skipped (no results file)"
fi
exit "$jest_rc"
