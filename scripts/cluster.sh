#!/usr/bin/env bash
# A local production-shaped Temporal cluster (issue 10): two server nodes (frontend, history,
# matching and worker services each, on their own ports) sharing one throwaway PostgreSQL 15, behind
# HAProxy (mode tcp, health checks every second), with the Temporal Web UI server pointed at the
# balancer. Workers, the intake, the CLI and the UI connect through the balancer only.
#
# Usage: scripts/cluster.sh COMMAND
#   up                 build/install what is missing, start everything (a no-op when already up)
#   down               stop everything this cluster started (by recorded pid); idempotent
#   status             what runs (exit 0 when the whole cluster is up)
#   env                the cluster's env: TEMPORAL_ADDRESS (the balancer), TEMPORAL_NAMESPACE,
#                      TEMPORAL_UI_URL, node pids and ports (`eval "$(scripts/cluster.sh env)"`)
#   kill-node a|b      kill -9 that node, found by its recorded pid (a game day's node loss)
#   start-node a|b     start that node again on its own ports, and wait until it serves
#   stop-nodes         stop both nodes (SIGTERM, SIGKILL after 30 s)
#   start-nodes        start both nodes again and wait until they serve
#   owner WORKFLOW_ID  which node (a or b) owns the history shard of that workflow, and the shard
#   shards             every history shard and the node that owns it
#   build              only install the pinned binaries (cached under .cache/, keyed by version)
#
# Environment:
#   CLUSTER_DIR        state, pids, configs and logs (default .stack/cluster)
#   CLUSTER_SHARDS     numHistoryShards (default 16; fixed when the cluster's database is created).
#                      Shards go to nodes by hashing their (random) addresses: with 4, one run in
#                      about eight gave node b none at all, so the ring never split.
#   CLUSTER_SKIP_UI    1 = do not build or start the Web UI server
#   TEMPORAL_CLI_PATH  override the temporal CLI (default: as scripts/setup.sh installs it)
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# Pinned versions (issue 10: what was tried on this kind of machine). The UI server v2.58.1 was
# refused: some of its dependencies are not served by the module proxy.
CLUSTER_GO_TOOLCHAIN=go1.27.3
CLUSTER_SERVER_VERSION=v1.32.2
CLUSTER_UI_VERSION=v2.54.1
SERVER_BIN_DIR="$ABK_REPO/.cache/temporal-server-$CLUSTER_SERVER_VERSION"
UI_BIN_DIR="$ABK_REPO/.cache/temporal-ui-server-$CLUSTER_UI_VERSION"
TEMPLATES="$ABK_REPO/cluster"

CLUSTER_DIR="${CLUSTER_DIR:-$ABK_REPO/.stack/cluster}"
mkdir -p "$CLUSTER_DIR"
CLUSTER_DIR="$(cd "$CLUSTER_DIR" && pwd)"
export CLUSTER_DIR
# lib.sh's pid bookkeeping works in STACK_DIR: here that is the cluster's own folder (not exported,
# so a stack.sh started from here keeps its own).
# shellcheck disable=SC2034  # read by lib.sh's abk_record_pid / abk_recorded_pid / abk_stop_pid
STACK_DIR="$CLUSTER_DIR"
CONFIG_DIR="$CLUSTER_DIR/config"
STATE_FILE="$CLUSTER_DIR/state"
ENV_FILE="$CLUSTER_DIR/env"
SHORT_DIR="/tmp/abk-cluster-$(printf '%s' "$CLUSTER_DIR" | sha1sum | cut -c1-10)"
PG_DIR="$CLUSTER_DIR/pg"
NODES=(a b)
ALL_SERVICES=(postgres haproxy node-a node-b ui)

if ! command -v go >/dev/null 2>&1 && [[ -x /usr/local/go/bin/go ]]; then PATH="/usr/local/go/bin:$PATH"; fi

lock_cluster() {
  exec 9>>"$CLUSTER_DIR/.lock"
  flock -w 300 9 || abk_die "another cluster.sh holds $CLUSTER_DIR/.lock for more than 300s"
}


# --- binaries ----------------------------------------------------------------------------------
server_built() { [[ -x "$SERVER_BIN_DIR/server" && -f "$SERVER_BIN_DIR/.server.ok" ]]; }
sql_built() {
  [[ -x "$SERVER_BIN_DIR/sql" && -f "$SERVER_BIN_DIR/.sql.ok" && -d "$SERVER_BIN_DIR/schema/postgresql/v12" ]]
}
ui_built() { [[ -x "$UI_BIN_DIR/server" && -f "$UI_BIN_DIR/.server.ok" ]]; }

go_install() { # go_install GOBIN PACKAGE@VERSION...
  local gobin="$1"
  shift
  command -v go >/dev/null 2>&1 || abk_die "Go toolchain not found (needed for 'go install $*')"
  GOTOOLCHAIN="$CLUSTER_GO_TOOLCHAIN" GOBIN="$gobin" go install "$@"
}

# Builds what is missing: the server and its schema tool in one `go install` (the two share most of
# their packages, built in parallel), then the UI server (its own GOBIN: its binary is also named
# `server`). Each gets a stamp once built; the schema folders are copied next to the binaries, so a
# cached build needs no module cache.
build_missing() {
  local t mod
  mkdir -p "$SERVER_BIN_DIR" "$UI_BIN_DIR"
  if ! sql_built || ! server_built; then
    t="$(abk_now_ms)"
    abk_log "go install go.temporal.io/server/cmd/server@$CLUSTER_SERVER_VERSION and cmd/tools/sql (GOTOOLCHAIN=$CLUSTER_GO_TOOLCHAIN; about 4 min on 2 cores)"
    rm -f "$SERVER_BIN_DIR/.server.ok" "$SERVER_BIN_DIR/.sql.ok"
    go_install "$SERVER_BIN_DIR" "go.temporal.io/server/cmd/server@$CLUSTER_SERVER_VERSION" \
      "go.temporal.io/server/cmd/tools/sql@$CLUSTER_SERVER_VERSION"
    mod="$(GOTOOLCHAIN="$CLUSTER_GO_TOOLCHAIN" go env GOMODCACHE)/go.temporal.io/server@$CLUSTER_SERVER_VERSION"
    rm -rf "$SERVER_BIN_DIR/schema"
    mkdir -p "$SERVER_BIN_DIR/schema/postgresql"
    cp -r "$mod/schema/postgresql/v12" "$SERVER_BIN_DIR/schema/postgresql/"
    chmod -R u+w "$SERVER_BIN_DIR/schema"
    touch "$SERVER_BIN_DIR/.sql.ok" "$SERVER_BIN_DIR/.server.ok"
    abk_log "server and schema tool built in $(abk_since "$t")"
  fi
  if [[ "${CLUSTER_SKIP_UI:-0}" != 1 ]] && ! ui_built; then
    t="$(abk_now_ms)"
    abk_log "go install github.com/temporalio/ui-server/v2/cmd/server@$CLUSTER_UI_VERSION"
    go_install "$UI_BIN_DIR" "github.com/temporalio/ui-server/v2/cmd/server@$CLUSTER_UI_VERSION"
    touch "$UI_BIN_DIR/.server.ok"
    abk_log "UI server built in $(abk_since "$t")"
  fi
}

all_built() { sql_built && server_built && { [[ "${CLUSTER_SKIP_UI:-0}" == 1 ]] || ui_built; }; }

# Starts build_missing in the background (logging to build.log); BUILD_PID is its pid, or empty.
BUILD_PID=""
start_build() {
  if all_built; then
    abk_log "binaries: cached (server $CLUSTER_SERVER_VERSION, UI $CLUSTER_UI_VERSION under .cache/)"
    return 0
  fi
  (build_missing) >>"$CLUSTER_DIR/build.log" 2>&1 9>&- &
  BUILD_PID=$!
  abk_log "building the missing binaries in the background (pid $BUILD_PID, log $CLUSTER_DIR/build.log)"
}

wait_build_until() { # wait_build_until PREDICATE: wait until it holds, or the build has ended
  local what="$1"
  while ! "$what"; do
    if [[ -z "$BUILD_PID" ]] || ! kill -0 "$BUILD_PID" 2>/dev/null; then
      "$what" && return 0
      abk_log_tail "$CLUSTER_DIR/build.log"
      abk_die "building the cluster binaries failed; see $CLUSTER_DIR/build.log"
    fi
    sleep 1
  done
}

ensure_haproxy() {
  command -v haproxy >/dev/null 2>&1 && return 0
  [[ "$(id -u)" == 0 ]] || abk_die "need root to install haproxy"
  abk_log "installing haproxy (Debian)"
  local added=""
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    # Keep the package from starting a system-wide haproxy (we run a private one).
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    added=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends haproxy >/dev/null 2>&1 || {
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends haproxy >/dev/null
  }
  if [[ -n "$added" ]]; then rm -f /usr/sbin/policy-rc.d; fi
  command -v haproxy >/dev/null 2>&1 || abk_die "haproxy not found after install"
}

# --- state -------------------------------------------------------------------------------------
load_state() {
  [[ -f "$STATE_FILE" ]] || return 1
  # shellcheck disable=SC1090
  source "$STATE_FILE"
}

node_var() { # node_var a FRONTEND_PORT -> value of NODE_A_FRONTEND_PORT
  local n="NODE_${1^^}_$2"
  printf '%s\n' "${!n}"
}

probe_frontend() {
  timeout 5 "$TEMPORAL_CLI" operator cluster health --address "127.0.0.1:$1" --command-timeout 3s 2>/dev/null |
    grep -q SERVING
}
probe_namespace() {
  timeout 8 "$TEMPORAL_CLI" workflow count --address "127.0.0.1:$1" --namespace default \
    --command-timeout 5s >/dev/null 2>&1
}
# Both nodes own history shards: the ring has formed and split the shards between them.
probe_shards_split() {
  local owners
  owners="$(cmd_shards | awk '{print $2}' | sort -u | tr -d '\n')"
  [[ "$owners" == ab ]]
}
probe_http() { curl -fsS -o /dev/null --max-time 2 "$@"; }
probe_tcp() { timeout 2 bash -c "</dev/tcp/127.0.0.1/$1"; }

psql_super() {
  PGPASSWORD="$PG_SUPER_PW" "$ABK_PG_BIN_DIR/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT" \
    -U postgres "$@"
}

# --- services ----------------------------------------------------------------------------------
start_postgres() {
  local log="$CLUSTER_DIR/postgres.log" pwfile
  rm -rf "$PG_DIR"
  mkdir -p "$PG_DIR"
  chown postgres:postgres "$PG_DIR"
  chmod 700 "$PG_DIR"
  if ! runuser -u postgres -- test -w "$PG_DIR" || ((${#PG_DIR} + 18 > 100)); then
    rm -rf "$PG_DIR"
    PG_DIR="$SHORT_DIR/pg"
    mkdir -p "$PG_DIR"
    chown postgres:postgres "$SHORT_DIR" "$PG_DIR"
    chmod 700 "$PG_DIR"
    runuser -u postgres -- test -w "$PG_DIR" || abk_die "postgres: user 'postgres' cannot write $PG_DIR"
  fi
  pwfile="$PG_DIR/.superuser-password"
  (umask 077 && printf '%s\n' "$PG_SUPER_PW" >"$pwfile")
  chown postgres:postgres "$pwfile"
  runuser -u postgres -- "$ABK_PG_BIN_DIR/initdb" -D "$PG_DIR/data" -U postgres --pwfile="$pwfile" \
    --auth=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 --no-sync >>"$log" 2>&1 || {
    abk_log_tail "$log"
    abk_die "postgres: initdb failed; see $log"
  }
  rm -f "$pwfile"
  abk_launch postgres setpriv --reuid=postgres --regid=postgres --init-groups -- \
    "$ABK_PG_BIN_DIR/postgres" -D "$PG_DIR/data" \
    -c listen_addresses=127.0.0.1 -c port="$PG_PORT" -c unix_socket_directories="$PG_DIR" \
    -c max_connections=200 -c fsync=off -c synchronous_commit=off -c full_page_writes=off
  abk_wait_ready postgres 30 "$log" "$LAUNCHED_PID" \
    "$ABK_PG_BIN_DIR/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" -t 1
  psql_super -d postgres >>"$log" 2>&1 <<SQL || abk_die "postgres: creating the temporal role and databases failed; see $log"
CREATE ROLE temporal LOGIN PASSWORD '$PG_TEMPORAL_PW';
CREATE DATABASE temporal OWNER temporal;
CREATE DATABASE temporal_visibility OWNER temporal;
SQL
  printf 'PG_DIR=%q\n' "$PG_DIR" >>"$STATE_FILE"
}

sql_tool() { # sql_tool DATABASE ARGS...: the server's schema tool (password through its environment)
  local db="$1"
  shift
  SQL_PASSWORD="$PG_TEMPORAL_PW" "$SERVER_BIN_DIR/sql" --plugin postgres12 --endpoint 127.0.0.1 \
    --port "$PG_PORT" --user temporal --database "$db" "$@"
}

migrate_schemas() {
  local log="$CLUSTER_DIR/schema.log" db dir
  for db in temporal temporal_visibility; do
    if [[ "$db" == temporal ]]; then dir=temporal; else dir=visibility; fi
    if ! sql_tool "$db" setup-schema -v 0.0 >>"$log" 2>&1 ||
      ! sql_tool "$db" update-schema -d "$SERVER_BIN_DIR/schema/postgresql/v12/$dir/versioned" >>"$log" 2>&1; then
      abk_log_tail "$log"
      abk_die "schema migration of $db failed; see $log"
    fi
  done
}

render() { # render TEMPLATE OUT: substitutes the ${VAR}s of the template from the environment
  local vars
  # shellcheck disable=SC2016  # a literal ${ in the pattern
  vars="$(grep -o '\${[A-Z_]*}' "$1" | sort -u | tr -d '\n')"
  (umask 077 && envsubst "$vars" <"$1" >"$2")
}

write_configs() {
  mkdir -p "$CONFIG_DIR"
  local n
  export PG_PORT PG_TEMPORAL_PW CLUSTER_SHARDS LB_PORT UI_PORT NODE_A_FRONTEND_PORT NODE_B_FRONTEND_PORT
  export CLUSTER_CONFIG_DIR="$CONFIG_DIR"
  cp "$TEMPLATES/dynamicconfig.yaml" "$CONFIG_DIR/dynamicconfig.yaml"
  for n in "${NODES[@]}"; do
    (
      for v in FRONTEND_PORT HTTP_PORT FRONTEND_MEMBERSHIP_PORT HISTORY_PORT HISTORY_MEMBERSHIP_PORT \
        MATCHING_PORT MATCHING_MEMBERSHIP_PORT WORKER_PORT WORKER_MEMBERSHIP_PORT METRICS_PORT; do
        export "NODE_$v=$(node_var "$n" "$v")"
      done
      render "$TEMPLATES/node.yaml.tmpl" "$CONFIG_DIR/node-$n.yaml"
    )
  done
  render "$TEMPLATES/haproxy.cfg.tmpl" "$CONFIG_DIR/haproxy.cfg"
  mkdir -p "$CONFIG_DIR/ui"
  render "$TEMPLATES/ui.yaml.tmpl" "$CONFIG_DIR/ui/cluster.yaml"
}

start_haproxy() {
  haproxy -c -q -f "$CONFIG_DIR/haproxy.cfg" >>"$CLUSTER_DIR/haproxy.log" 2>&1 ||
    abk_die "haproxy: invalid config $CONFIG_DIR/haproxy.cfg; see $CLUSTER_DIR/haproxy.log"
  abk_launch haproxy "$(command -v haproxy)" -db -f "$CONFIG_DIR/haproxy.cfg"
  abk_wait_ready haproxy 10 "$CLUSTER_DIR/haproxy.log" "$LAUNCHED_PID" probe_tcp "$LB_PORT"
}

launch_node() { # launch_node a|b: start it (no wait); NODE_PIDS[a]=pid
  local n="$1"
  abk_launch "node-$n" "$SERVER_BIN_DIR/server" --config-file "$CONFIG_DIR/node-$n.yaml" --allow-no-auth start
}

wait_node() {
  local n="$1" pid
  pid="$(abk_recorded_pid "node-$n" || true)"
  abk_wait_ready "node $n" 120 "$CLUSTER_DIR/node-$n.log" "$pid" probe_frontend "$(node_var "$n" FRONTEND_PORT)"
}

register_namespace() {
  local addr="127.0.0.1:$NODE_A_FRONTEND_PORT" log="$CLUSTER_DIR/setup.log"
  if ! timeout 15 "$TEMPORAL_CLI" operator namespace describe --address "$addr" --namespace default >/dev/null 2>&1; then
    timeout 30 "$TEMPORAL_CLI" operator namespace create --address "$addr" --namespace default \
      --retention 72h >>"$log" 2>&1 || {
      abk_log_tail "$log"
      abk_die "creating namespace default failed; see $log"
    }
  fi
  # The project's custom search attributes (workflows/search-attributes.ts), as the dev server has them.
  local deadline=$(($(abk_now_ms) + 60000))
  until timeout 30 "$TEMPORAL_CLI" operator search-attribute create --address "$addr" --namespace default \
    --name RunbookId --type Keyword --name Severity --type Keyword \
    --name TargetService --type Keyword --name IncidentStatus --type Keyword \
    --name Escalated --type Bool --name AwaitingApproval --type Bool \
    --name FollowUpDuties --type KeywordList --name FollowUpOverdue --type Bool \
    --name RecurrenceOf --type Keyword --name DryRun --type Keyword >>"$log" 2>&1; do
    # The new namespace reaches every frontend's cache within seconds.
    if (($(abk_now_ms) > deadline)); then
      abk_log_tail "$log"
      abk_die "registering the search attributes failed; see $log"
    fi
    sleep 1
  done
}

start_ui() {
  [[ "${CLUSTER_SKIP_UI:-0}" == 1 ]] && return 0
  abk_launch ui "$UI_BIN_DIR/server" --root "$CONFIG_DIR" --config ui --env cluster start
  abk_wait_ready "UI server" 30 "$CLUSTER_DIR/ui.log" "$LAUNCHED_PID" probe_http "http://127.0.0.1:$UI_PORT/"
}

# --- env ---------------------------------------------------------------------------------------
print_env() {
  load_state || abk_die "the cluster in $CLUSTER_DIR is not up (scripts/cluster.sh up)"
  local n pid
  printf '# scripts/cluster.sh env (%s)\n' "$CLUSTER_DIR"
  printf 'export CLUSTER_DIR=%q\n' "$CLUSTER_DIR"
  printf 'export TEMPORAL_ADDRESS=%q\n' "127.0.0.1:$LB_PORT"
  printf 'export TEMPORAL_NAMESPACE=default\n'
  printf 'export CLUSTER_BALANCER_ADDRESS=%q\n' "127.0.0.1:$LB_PORT"
  if [[ "${CLUSTER_SKIP_UI:-0}" != 1 ]]; then printf 'export TEMPORAL_UI_URL=%q\n' "http://127.0.0.1:$UI_PORT"; fi
  printf 'export CLUSTER_BALANCER_PID=%q\n' "$(abk_recorded_pid haproxy || true)"
  for n in "${NODES[@]}"; do
    pid="$(abk_recorded_pid "node-$n" || true)"
    printf 'export CLUSTER_NODE_%s_PID=%q\n' "${n^^}" "$pid"
    printf 'export CLUSTER_NODE_%s_FRONTEND=%q\n' "${n^^}" "127.0.0.1:$(node_var "$n" FRONTEND_PORT)"
    printf 'export CLUSTER_NODE_%s_HISTORY=%q\n' "${n^^}" "127.0.0.1:$(node_var "$n" HISTORY_PORT)"
  done
  printf 'export CLUSTER_SHARDS=%q\n' "$CLUSTER_SHARDS"
  printf 'export CLUSTER_PG_PORT=%q\n' "$PG_PORT"
}

cluster_is_up() {
  load_state 2>/dev/null || return 1
  [[ -f "$CLUSTER_DIR/.services" ]] || return 1
  local svc
  while read -r svc; do
    abk_recorded_pid "$svc" >/dev/null || return 1
  done <"$CLUSTER_DIR/.services"
}

any_recorded_alive() {
  local svc
  for svc in "${ALL_SERVICES[@]}"; do
    if abk_recorded_pid "$svc" >/dev/null; then return 0; fi
  done
  return 1
}

# --- commands ----------------------------------------------------------------------------------
resolve_cli() {
  TEMPORAL_CLI="$(abk_temporal_cli)"
  [[ -n "$TEMPORAL_CLI" ]] || abk_die "temporal CLI not found (run scripts/setup.sh)"
}

cmd_up() {
  lock_cluster
  if cluster_is_up; then
    abk_log "cluster already up in $CLUSTER_DIR"
    print_env
    return 0
  fi
  if any_recorded_alive; then
    abk_log "cluster in $CLUSTER_DIR is partly running; stopping it first"
    do_down
  fi
  resolve_cli
  [[ -x "$ABK_PG_BIN_DIR/postgres" ]] || abk_die "PostgreSQL 15 not found at $ABK_PG_BIN_DIR (run scripts/setup.sh)"
  local t0 ts
  t0="$(abk_now_ms)"
  trap 'up_failed $?' EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  rm -f "$ENV_FILE" "$CLUSTER_DIR/.services" "$STATE_FILE"
  mkdir -p "$SHORT_DIR"

  # The server build is the long pole: start it first.
  start_build
  ensure_haproxy

  local ports
  ports="$(abk_free_ports 23)" || abk_die "could not pick free ports"
  # shellcheck disable=SC2034  # read through node_var and the templates
  read -r PG_PORT LB_PORT UI_PORT \
    NODE_A_FRONTEND_PORT NODE_A_HTTP_PORT NODE_A_FRONTEND_MEMBERSHIP_PORT NODE_A_HISTORY_PORT \
    NODE_A_HISTORY_MEMBERSHIP_PORT NODE_A_MATCHING_PORT NODE_A_MATCHING_MEMBERSHIP_PORT \
    NODE_A_WORKER_PORT NODE_A_WORKER_MEMBERSHIP_PORT NODE_A_METRICS_PORT \
    NODE_B_FRONTEND_PORT NODE_B_HTTP_PORT NODE_B_FRONTEND_MEMBERSHIP_PORT NODE_B_HISTORY_PORT \
    NODE_B_HISTORY_MEMBERSHIP_PORT NODE_B_MATCHING_PORT NODE_B_MATCHING_MEMBERSHIP_PORT \
    NODE_B_WORKER_PORT NODE_B_WORKER_MEMBERSHIP_PORT NODE_B_METRICS_PORT <<<"$ports"
  CLUSTER_SHARDS="${CLUSTER_SHARDS:-16}"
  ((CLUSTER_SHARDS >= 4)) || abk_die "CLUSTER_SHARDS must be at least 4"
  PG_SUPER_PW="$(abk_secret)"
  PG_TEMPORAL_PW="$(abk_secret)"
  (
    umask 077
    local v
    for v in PG_PORT LB_PORT UI_PORT CLUSTER_SHARDS PG_SUPER_PW PG_TEMPORAL_PW; do printf '%s=%q\n' "$v" "${!v}"; done
    for v in $(compgen -v NODE_A_) $(compgen -v NODE_B_); do printf '%s=%q\n' "$v" "${!v}"; done
  ) >"$STATE_FILE"

  ts="$(abk_now_ms)"
  start_postgres
  abk_log "postgres ready ($(abk_since "$ts"))"
  ts="$(abk_now_ms)"
  wait_build_until sql_built
  migrate_schemas
  abk_log "schemas temporal + temporal_visibility migrated ($(abk_since "$ts"))"
  write_configs
  start_haproxy
  abk_log "haproxy ready on 127.0.0.1:$LB_PORT"
  ts="$(abk_now_ms)"
  wait_build_until server_built
  abk_log "server binary ready (waited $(abk_since "$ts"))"

  ts="$(abk_now_ms)"
  launch_node a
  wait_node a
  abk_log "node a serving ($(abk_since "$ts"))"
  ts="$(abk_now_ms)"
  launch_node b
  register_namespace
  wait_node b
  abk_wait_ready "namespace default on node b" 60 "$CLUSTER_DIR/node-b.log" "" probe_namespace "$NODE_B_FRONTEND_PORT"
  abk_wait_ready "namespace default through the balancer" 30 "$CLUSTER_DIR/haproxy.log" "" probe_namespace "$LB_PORT"
  abk_log "node b serving, namespace and search attributes registered ($(abk_since "$ts"))"
  ts="$(abk_now_ms)"
  abk_wait_ready "the ring (both nodes owning history shards)" 120 "$CLUSTER_DIR/node-b.log" "" probe_shards_split
  abk_log "ring formed: $(cmd_shards | awk '{n[$2]++} END {printf "node a owns %d shards, node b %d", n["a"], n["b"]}') ($(abk_since "$ts"))"

  if [[ "${CLUSTER_SKIP_UI:-0}" != 1 ]]; then
    ts="$(abk_now_ms)"
    wait_build_until ui_built
    start_ui
    abk_log "UI server ready on http://127.0.0.1:$UI_PORT ($(abk_since "$ts"))"
  fi
  if [[ -n "$BUILD_PID" ]]; then wait "$BUILD_PID" || abk_die "build failed; see $CLUSTER_DIR/build.log"; fi

  local services=(postgres haproxy node-a node-b)
  [[ "${CLUSTER_SKIP_UI:-0}" == 1 ]] || services+=(ui)
  printf '%s\n' "${services[@]}" >"$CLUSTER_DIR/.services"
  print_env >"$ENV_FILE"
  chmod 600 "$ENV_FILE"
  trap - EXIT
  abk_log "cluster up in $(abk_since "$t0"): balancer 127.0.0.1:$LB_PORT, UI http://127.0.0.1:$UI_PORT"
  cat "$ENV_FILE"
}

# A failed `up` stops what it started; a binary build still running goes on for the next run.
build_goes_on() {
  if [[ -n "$BUILD_PID" ]] && kill -0 "$BUILD_PID" 2>/dev/null; then
    abk_warn "up failed; the binary build (pid $BUILD_PID) goes on in the background so the next run can use it"
  fi
  return 1
}

up_failed() { abk_up_failed "$1" build_goes_on; }

do_down() {
  load_state 2>/dev/null || true
  abk_stop_pid ui TERM 10
  abk_stop_pid haproxy TERM 10
  stop_nodes_parallel TERM 30
  abk_stop_pid postgres INT 30
  if [[ -n "${PG_DIR:-}" && "$PG_DIR" == "$SHORT_DIR/pg" ]]; then rm -rf "$SHORT_DIR"; fi
  rm -rf "$CLUSTER_DIR/pg" "$SHORT_DIR" "$ENV_FILE" "$CLUSTER_DIR/.services" "$STATE_FILE" "$CONFIG_DIR"
}

stop_nodes_parallel() { # stop_nodes_parallel SIGNAL TIMEOUT
  local n pids=()
  for n in "${NODES[@]}"; do
    abk_stop_pid "node-$n" "$1" "$2" &
    pids+=($!)
  done
  wait "${pids[@]}"
}

cmd_down() {
  lock_cluster
  do_down
  abk_log "cluster down (logs kept in $CLUSTER_DIR; binaries kept under .cache/)"
}

cmd_status() {
  local svc pid rc=0 any=0
  printf 'cluster %s\n' "$CLUSTER_DIR"
  for svc in "${ALL_SERVICES[@]}"; do
    if pid="$(abk_recorded_pid "$svc")"; then
      printf '  %-10s running  pid %-8s log %s\n' "$svc" "$pid" "$CLUSTER_DIR/$svc.log"
      any=1
    elif [[ -f "$CLUSTER_DIR/$svc.pid" ]]; then
      printf '  %-10s DEAD     (pid file %s)\n' "$svc" "$CLUSTER_DIR/$svc.pid"
    else
      printf '  %-10s not running\n' "$svc"
    fi
  done
  if cluster_is_up; then
    printf 'cluster is UP\n'
    print_env | grep -v '^#' | sed 's/^/  /'
  elif ((any)); then
    printf 'cluster is PARTLY running\n'
    rc=1
  else
    printf 'cluster is DOWN\n'
    rc=1
  fi
  return "$rc"
}

check_node_arg() { [[ "${1:-}" == a || "${1:-}" == b ]] || abk_die "name a node: a or b"; }

cmd_kill_node() {
  check_node_arg "${1:-}"
  load_state || abk_die "the cluster in $CLUSTER_DIR is not up"
  local pid
  pid="$(abk_recorded_pid "node-$1")" || abk_die "node $1 is not running"
  kill -s KILL "$pid"
  while kill -0 "$pid" 2>/dev/null && [[ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" != Z ]]; do sleep 0.05; done
  abk_log "node $1 (pid $pid) killed with SIGKILL"
  printf 'killed node-%s pid %s at %s\n' "$1" "$pid" "$(abk_now_ms)"
}

cmd_start_node() {
  check_node_arg "${1:-}"
  lock_cluster
  load_state || abk_die "the cluster in $CLUSTER_DIR is not up"
  resolve_cli
  local t
  t="$(abk_now_ms)"
  if abk_recorded_pid "node-$1" >/dev/null; then
    abk_log "node $1 already running"
  else
    launch_node "$1"
  fi
  wait_node "$1"
  abk_log "node $1 serving ($(abk_since "$t"))"
  print_env >"$ENV_FILE"
}

cmd_stop_nodes() {
  lock_cluster
  load_state || abk_die "the cluster in $CLUSTER_DIR is not up"
  stop_nodes_parallel TERM 30
  abk_log "both nodes stopped"
}

cmd_start_nodes() {
  lock_cluster
  load_state || abk_die "the cluster in $CLUSTER_DIR is not up"
  resolve_cli
  local t n
  t="$(abk_now_ms)"
  for n in "${NODES[@]}"; do
    abk_recorded_pid "node-$n" >/dev/null || launch_node "$n"
  done
  for n in "${NODES[@]}"; do wait_node "$n"; done
  abk_log "both nodes serving ($(abk_since "$t"))"
  print_env >"$ENV_FILE"
}

# Which node owns the history shard of a workflow: the shard row names its owner (the history
# service's address) in its serialized info.
cmd_owner() {
  local wf="${1:-}" shard hex n addr
  [[ -n "$wf" ]] || abk_die "usage: cluster.sh owner WORKFLOW_ID"
  load_state || abk_die "the cluster in $CLUSTER_DIR is not up"
  # (psql interpolates :'wf' only in what it reads from stdin, not in -c)
  shard="$(PGPASSWORD="$PG_TEMPORAL_PW" "$ABK_PG_BIN_DIR/psql" -X -At -h 127.0.0.1 -p "$PG_PORT" -U temporal -d temporal \
    -v wf="$wf" <<<"SELECT shard_id FROM executions WHERE workflow_id = :'wf' LIMIT 1")"
  [[ -n "$shard" ]] || abk_die "no execution with workflow id $wf"
  hex="$(PGPASSWORD="$PG_TEMPORAL_PW" "$ABK_PG_BIN_DIR/psql" -X -At -h 127.0.0.1 -p "$PG_PORT" -U temporal -d temporal \
    -c "SELECT encode(data, 'hex') FROM shards WHERE shard_id = $shard")"
  for n in "${NODES[@]}"; do
    addr="127.0.0.1:$(node_var "$n" HISTORY_PORT)"
    if [[ "$hex" == *"$(printf '%s' "$addr" | od -An -tx1 | tr -d ' \n')"* ]]; then
      printf '%s %s\n' "$n" "$shard"
      return 0
    fi
  done
  abk_die "shard $shard names no known history address"
}

# Every history shard and its owner node ("SHARD a|b|?"), as the shard rows name them.
cmd_shards() {
  load_state || abk_die "the cluster in $CLUSTER_DIR is not up"
  local shard hex owner ha hb
  ha="$(printf '127.0.0.1:%s' "$NODE_A_HISTORY_PORT" | od -An -tx1 | tr -d ' \n')"
  hb="$(printf '127.0.0.1:%s' "$NODE_B_HISTORY_PORT" | od -An -tx1 | tr -d ' \n')"
  while read -r shard hex; do
    [[ -n "$shard" ]] || continue
    owner='?'
    if [[ "$hex" == *"$ha"* ]]; then owner=a; elif [[ "$hex" == *"$hb"* ]]; then owner=b; fi
    printf '%s %s\n' "$shard" "$owner"
  done < <(PGPASSWORD="$PG_TEMPORAL_PW" "$ABK_PG_BIN_DIR/psql" -X -At -F ' ' -h 127.0.0.1 -p "$PG_PORT" \
    -U temporal -d temporal -c "SELECT shard_id, encode(data, 'hex') FROM shards ORDER BY shard_id")
}

case "${1:-}" in
  up) cmd_up ;;
  shards) cmd_shards ;;
  down) cmd_down ;;
  status) cmd_status ;;
  env) print_env ;;
  kill-node) cmd_kill_node "${2:-}" ;;
  start-node) cmd_start_node "${2:-}" ;;
  stop-nodes) cmd_stop_nodes ;;
  start-nodes) cmd_start_nodes ;;
  owner) cmd_owner "${2:-}" ;;
  build)
    t0="$(abk_now_ms)"
    build_missing
    abk_log "binaries ready in $(abk_since "$t0")"
    ;;
  *)
    echo "usage: $0 up|down|status|env|kill-node a|b|start-node a|b|stop-nodes|start-nodes|owner WORKFLOW_ID|shards|build" >&2
    exit 2
    ;;
esac
