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
# shellcheck source=scripts/stage-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/stage-lib.sh"
cd "$ABK_REPO"

export STACK_DIR="${IMAGE_TEST_STACK_DIR:-$ABK_REPO/.stack/image}"
ABK_STAGE=test-image
abk_stage_traps

abk_stage_build_if_stale dist/image/entrypoint.js definitions common activities workflows worker client config sandbox rig image
abk_stage_stack_up
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
abk_jest_summary image "$results"
exit "$jest_rc"
