#!/usr/bin/env bash
# What the test stages that also run alone share (test-chaos.sh, test-image.sh, test-cluster.sh):
# build when stale, and a stack of their own (reused when up, else started here and stopped on exit,
# even on failure); Jest's summary line is lib.sh's abk_jest_summary. Sourced after lib.sh; the
# stage sets ABK_STAGE (its script's name) and calls abk_stage_traps first.

ABK_STAGE_T0="$(abk_now_ms)"
# What this stage started, as the commands that stop it, run in this order on exit.
ABK_STAGE_STOPS=()

# shellcheck disable=SC2317  # invoked by the EXIT trap
abk_stage_on_exit() {
  local rc=$? cmd
  trap - EXIT INT TERM
  # A stage may wait for its own background work first (test-cluster.sh: the cluster coming up).
  if declare -F abk_stage_before_stop >/dev/null; then abk_stage_before_stop || true; fi
  if [[ "${KEEP_STACK:-0}" == 1 ]]; then
    ((${#ABK_STAGE_STOPS[@]} == 0)) ||
      abk_log "KEEP_STACK=1: what this stage started stays up (stop it with: ${ABK_STAGE_STOPS[*]})"
  else
    for cmd in "${ABK_STAGE_STOPS[@]}"; do
      $cmd >/dev/null 2>&1 || {
        abk_warn "'$cmd' failed"
        rc=1
      }
    done
  fi
  abk_log "total $(abk_since "$ABK_STAGE_T0")"
  if ((rc == 0)); then echo "$ABK_STAGE.sh: OK"; else echo "$ABK_STAGE.sh: FAILED (exit $rc)"; fi
  exit "$rc"
}

abk_stage_traps() {
  trap abk_stage_on_exit EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
}

# `npm run build` when MARKER (a file under dist/) is missing or older than a .ts file under the
# given folders. Returns 1 when the build fails (the caller decides whether that ends the stage).
abk_stage_build_if_stale() {
  local marker="$1" t
  shift
  if [[ -f "$marker" ]] && [[ -z "$(find "$@" -name '*.ts' -newer "$marker" -print -quit)" ]]; then
    return 0
  fi
  t="$(abk_now_ms)"
  abk_log "building (npm run build)"
  npm run --silent build || return 1
  abk_log "built in $(abk_since "$t")"
}

# The stack of STACK_DIR: one already up (KEEP_STACK=1 earlier) is reused and left up; one started
# here is stopped on exit.
abk_stage_stack_up() {
  local t
  if scripts/stack.sh status >/dev/null 2>&1; then
    abk_log "reusing the stack already up in $STACK_DIR"
    return 0
  fi
  ABK_STAGE_STOPS+=("scripts/stack.sh down")
  t="$(abk_now_ms)"
  scripts/stack.sh up >/dev/null
  abk_log "stack up in $STACK_DIR ($(abk_since "$t"))"
}
