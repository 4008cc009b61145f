#!/usr/bin/env bash
# The project's throwaway local stack of real components, each on a free port:
#   PostgreSQL 15, Redis, stripe-mock, a private Docker engine, the Temporal dev server (with Web
#   UI), the sandbox AccuBooks API container, Prometheus scraping it and evaluating alerts/*.yml,
#   and Prometheus Alertmanager sending the runbook alerts to the alert intake (alerts/alertmanager/).
#   The stack does not run the intake: Alertmanager sends to http://127.0.0.1:$STACK_INTAKE_PORT
#   with the bearer token $STACK_INTAKE_TOKEN (env file), where scripts/demo.sh or a test runs it.
#
# Usage: scripts/stack.sh up|down|status|env|start <service>
#   up      start everything (a no-op that reprints the env when the stack is already up)
#   down    stop everything this stack started (by recorded pid), idempotent;
#           `down --purge` also deletes the logs and the Docker image cache
#   status  show what runs (exit 0 when the whole stack is up)
#   env     print the stack's env file (`eval "$(scripts/stack.sh env)"` or `source $STACK_DIR/env`)
#   start S start again one stopped service S (postgres, redis, stripe-mock, dockerd, prometheus,
#           alertmanager)
#           of a stack that is up, on its ports and data (`up` would restart the whole stack)
#
# Environment:
#   STACK_DIR           where state, pids (<svc>.pid) and logs (<svc>.log) go (default .stack)
#   STACK_SKIP_SANDBOX  1 = do not build/run the sandbox AccuBooks API container
#   STACK_KEEP_ON_FAIL  1 = leave what was started running when `up` fails (for debugging)
#   STACK_CODEC         1 = write PAYLOAD_CODEC_KEYS (a fresh key): every process encrypts payloads;
#                       also runs the codec server (codec-server.pid/.log; CODEC_SERVER_URL and
#                       CODEC_SERVER_TOKEN in the env file) and gives the Web UI its endpoint
#   STACK_ALERT_TIMING  production (default): the rules' `for:` as the runbook says (3, 5, 10 min) and
#                       Alertmanager's group_wait 10s, group_interval 1m, repeat_interval 1h.
#                       fast (tests, demo): every `for:` is STACK_ALERT_FOR (default 3s; Prometheus
#                       then loads a copy of alerts/*.yml from $STACK_DIR/alertmanager/rules/) and
#                       Alertmanager's group_wait 1s, group_interval 2s, repeat_interval 4s.
#                       With fast timing and STACK_ALERT_RATE_WINDOW set (scripts/test.sh: 15s), every
#                       rate() range in that copy is it instead of the rules' 1m, so that a fault
#                       shows, and a fixed one fades, in seconds; the env file says which range holds
#                       (the loop tests give it to P1-1/P1-2 as their policies' rateWindow).
#                       Prometheus evaluates the rules every second either way.
#   TEMPORAL_CLI_PATH, TEMPORAL_TEST_SERVER_PATH  override the Temporal binaries
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

STACK_DIR="${STACK_DIR:-$ABK_REPO/.stack}"
mkdir -p "$STACK_DIR"
STACK_DIR="$(cd "$STACK_DIR" && pwd)"
export STACK_DIR

# Unix socket paths are limited to 107 bytes. dockerd's exec-root holds sockets up to 33 bytes
# deeper (containerd/containerd.sock.ttrpc), so it always goes to a short folder under /tmp named
# after a hash of STACK_DIR; so do the Docker and PostgreSQL sockets when their path would be too
# long, and the PostgreSQL data when user postgres cannot reach STACK_DIR.
SHORT_DIR="/tmp/abk-$(printf '%s' "$STACK_DIR" | sha1sum | cut -c1-10)"
DOCKER_DIR="$STACK_DIR/docker"
DOCKER_EXEC="$SHORT_DIR/exec"
if ((${#DOCKER_DIR} + 12 <= 100)); then DOCKER_SOCK="$DOCKER_DIR/docker.sock"; else DOCKER_SOCK="$SHORT_DIR/docker.sock"; fi
PG_DIR="$STACK_DIR/pg"
if ((${#PG_DIR} + 18 <= 100)); then PG_SOCK_DIR="$PG_DIR"; else PG_SOCK_DIR="$SHORT_DIR/pg"; fi
DOCKER_HOST_URL="unix://$DOCKER_SOCK"
ENV_FILE="$STACK_DIR/env"
SANDBOX_CONTAINER=accubooks-api
STRIPE_KEY=sk_test_123

# Start order; `down` stops in reverse.
ALL_SERVICES=(postgres redis stripe-mock dockerd temporal codec-server sandbox alertmanager prometheus)
AM_DIR="$STACK_DIR/alertmanager"
ALERT_TIMING="${STACK_ALERT_TIMING:-production}"
case "$ALERT_TIMING" in
  production | fast) ;;
  *) abk_die "STACK_ALERT_TIMING must be production or fast (got '$ALERT_TIMING')" ;;
esac
ALERT_FOR="${STACK_ALERT_FOR:-3s}"
[[ "$ALERT_FOR" =~ ^[1-9][0-9]*[smh]$ ]] || abk_die "STACK_ALERT_FOR must be a duration such as 3s (got '$ALERT_FOR')"
# The rules' rate() range with fast timing; empty = the rules' own.
ALERT_RATE_WINDOW="${STACK_ALERT_RATE_WINDOW:-}"
[[ -z "$ALERT_RATE_WINDOW" || "$ALERT_RATE_WINDOW" =~ ^[1-9][0-9]*[smh]$ ]] ||
  abk_die "STACK_ALERT_RATE_WINDOW must be a duration such as 15s (got '$ALERT_RATE_WINDOW')"

docker_cli() { timeout 60 "$ABK_DOCKER" -H "$DOCKER_HOST_URL" "$@"; }

lock_stack() {
  exec 9>>"$STACK_DIR/.lock"
  flock -w 300 9 || abk_die "another stack.sh holds $STACK_DIR/.lock for more than 300s"
}

started_services() { cat "$STACK_DIR/.services" 2>/dev/null || true; }

# The sandbox container's main pid changes whenever it is restarted (runbooks do that), so its
# liveness comes from its own dockerd; prints the current pid.
sandbox_pid() {
  local pid
  abk_recorded_pid dockerd >/dev/null || return 1
  pid="$(timeout 5 "$ABK_DOCKER" -H "$DOCKER_HOST_URL" inspect \
    -f '{{if .State.Running}}{{.State.Pid}}{{end}}' "$SANDBOX_CONTAINER" 2>/dev/null)" || return 1
  [[ "$pid" =~ ^[1-9][0-9]*$ ]] || return 1
  printf '%s\n' "$pid"
}

service_pid() {
  if [[ "$1" == sandbox ]]; then sandbox_pid; else abk_recorded_pid "$1"; fi
}

# Up = env written and every started daemon alive. The sandbox container is not part of that
# test: crashing it is what faults do and restarting it is what runbooks do.
stack_is_up() {
  [[ -f "$ENV_FILE" && -f "$STACK_DIR/.services" ]] || return 1
  local svc
  for svc in $(started_services); do
    [[ "$svc" == sandbox ]] || abk_recorded_pid "$svc" >/dev/null || return 1
  done
}

any_recorded_alive() {
  local svc
  for svc in "${ALL_SERVICES[@]}" containerd; do
    if abk_recorded_pid "$svc" >/dev/null; then return 0; fi
  done
  return 1
}

# --- readiness probes --------------------------------------------------------------------------
# Each probe is bounded in time itself, so that every wait stays bounded.
probe_redis() { [[ "$(timeout 3 redis-cli -h 127.0.0.1 -p "$1" ping 2>/dev/null)" == PONG ]]; }
probe_docker() { timeout 5 "$ABK_DOCKER" -H "$DOCKER_HOST_URL" info; }
probe_http() { curl -fsS -o /dev/null --max-time 2 "$@"; }
probe_prom_scraped() {
  curl -fsS --max-time 2 "$PROMETHEUS_URL/api/v1/query" --data-urlencode 'query=up{job="accubooks-api"} == 1' |
    grep -q '"result":\[{'
}
probe_temporal() {
  timeout 5 "$TEMPORAL_CLI" operator cluster health --address "127.0.0.1:$1" --command-timeout 3s 2>/dev/null |
    grep -q SERVING
}

# --- services ----------------------------------------------------------------------------------
start_postgres() {
  local log="$STACK_DIR/postgres.log" pwfile
  rm -rf "$PG_DIR"
  mkdir -p "$PG_DIR"
  chown postgres:postgres "$PG_DIR"
  chmod 700 "$PG_DIR"
  if ! runuser -u postgres -- test -w "$PG_DIR"; then
    # A parent of STACK_DIR is not searchable by other users (e.g. a checkout under /root).
    abk_warn "postgres: user 'postgres' cannot reach $PG_DIR; using $SHORT_DIR/pg instead"
    rm -rf "$PG_DIR"
    PG_DIR="$SHORT_DIR/pg"
    PG_SOCK_DIR="$PG_DIR"
    mkdir -p "$PG_DIR"
    chown postgres:postgres "$PG_DIR"
    chmod 700 "$PG_DIR"
    runuser -u postgres -- test -w "$PG_DIR" || abk_die "postgres: user 'postgres' cannot write $PG_DIR"
  fi
  mkdir -p "$PG_SOCK_DIR"
  chown postgres:postgres "$PG_SOCK_DIR"
  PG_SOCKET_DIR="$PG_SOCK_DIR"
  pwfile="$PG_DIR/.superuser-password"
  (umask 077 && printf '%s\n' "$PG_SUPER_PW" >"$pwfile")
  chown postgres:postgres "$pwfile"
  runuser -u postgres -- "$ABK_PG_BIN_DIR/initdb" -D "$PG_DIR/data" -U postgres --pwfile="$pwfile" \
    --auth=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 --no-sync >>"$log" 2>&1 ||
    {
      abk_log_tail "$log"
      abk_die "postgres: initdb failed; see $log"
    }
  rm -f "$pwfile"
  launch_postgres
  PGPASSWORD="$PG_SUPER_PW" "$ABK_PG_BIN_DIR/psql" -X -q -v ON_ERROR_STOP=1 \
    -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres >>"$log" 2>&1 <<SQL || abk_die "postgres: creating roles and database failed; see $log"
CREATE ROLE accubooks LOGIN PASSWORD '$PG_APP_PW';
CREATE DATABASE accubooks OWNER accubooks;
REVOKE CONNECT ON DATABASE accubooks FROM PUBLIC;
CREATE ROLE runbook LOGIN PASSWORD '$PG_RUNBOOK_PW';
GRANT pg_signal_backend, pg_monitor, pg_read_all_data TO runbook;
GRANT CONNECT ON DATABASE accubooks TO runbook;
SQL
}

# Runs the server on the cluster in $PG_DIR/data (made by start_postgres; reused by `start postgres`).
launch_postgres() {
  abk_launch postgres setpriv --reuid=postgres --regid=postgres --init-groups -- \
    "$ABK_PG_BIN_DIR/postgres" -D "$PG_DIR/data" \
    -c listen_addresses=127.0.0.1 -c port="$PG_PORT" -c unix_socket_directories="$PG_SOCK_DIR" \
    -c max_connections=200 -c fsync=off -c synchronous_commit=off -c full_page_writes=off
  abk_wait_ready postgres 30 "$STACK_DIR/postgres.log" "$LAUNCHED_PID" \
    "$ABK_PG_BIN_DIR/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" -t 1
}

start_redis() {
  abk_launch redis "$(command -v redis-server)" --port "$REDIS_PORT" --bind 127.0.0.1 \
    --save '' --appendonly no --daemonize no --dir "$STACK_DIR"
  abk_wait_ready redis 20 "$STACK_DIR/redis.log" "$LAUNCHED_PID" probe_redis "$REDIS_PORT"
}

start_stripe_mock() {
  # An explicit -https-addr: with -http-addr alone, stripe-mock also listens for HTTPS on *:12112,
  # which would clash between two stacks.
  abk_launch stripe-mock "$ABK_CACHE_BIN/stripe-mock" -http-addr "127.0.0.1:$STRIPE_PORT" \
    -https-addr "127.0.0.1:$STRIPE_HTTPS_PORT"
  abk_wait_ready stripe-mock 30 "$STACK_DIR/stripe-mock.log" "$LAUNCHED_PID" \
    probe_http -u "$STRIPE_KEY:" "http://127.0.0.1:$STRIPE_PORT/v1/charges"
}

start_dockerd() {
  mkdir -p "$DOCKER_DIR/data" "$DOCKER_EXEC" "$(dirname "$DOCKER_SOCK")"
  # Own (empty) config file, so a system-wide /etc/docker/daemon.json cannot interfere.
  printf '{}\n' >"$DOCKER_DIR/daemon.json"
  rm -f "$DOCKER_SOCK"
  abk_launch dockerd "$(command -v dockerd)" --config-file "$DOCKER_DIR/daemon.json" \
    --host "$DOCKER_HOST_URL" --data-root "$DOCKER_DIR/data" --exec-root "$DOCKER_EXEC" \
    --pidfile "$DOCKER_DIR/dockerd.pid" --storage-driver vfs \
    --iptables=false --ip6tables=false --bridge=none
  abk_wait_ready dockerd 60 "$STACK_DIR/dockerd.log" "$LAUNCHED_PID" probe_docker
  # dockerd runs its own containerd; record it too so `down` can make sure it is gone.
  local cpid
  cpid="$(cat "$DOCKER_EXEC/containerd/containerd.pid" 2>/dev/null || true)"
  if [[ "$cpid" =~ ^[0-9]+$ ]]; then abk_record_pid containerd "$cpid"; fi
}

start_temporal() {
  local ui_codec=()
  if [[ -n "${CODEC_SERVER_URL:-}" ]]; then ui_codec=(--ui-codec-endpoint "$CODEC_SERVER_URL/codec"); fi
  abk_launch temporal "$TEMPORAL_CLI" server start-dev --ip 127.0.0.1 --port "$T_PORT" \
    --ui-port "$T_UI_PORT" --http-port "$T_HTTP_PORT" --metrics-port "$T_METRICS_PORT" \
    --db-filename "$STACK_DIR/temporal.db" --namespace default --log-level warn \
    --ui-disable-news-fetch "${ui_codec[@]}" \
    --search-attribute RunbookId=Keyword --search-attribute Severity=Keyword \
    --search-attribute TargetService=Keyword --search-attribute IncidentStatus=Keyword \
    --search-attribute Escalated=Bool --search-attribute AwaitingApproval=Bool \
    --search-attribute FollowUpDuties=KeywordList --search-attribute FollowUpOverdue=Bool \
    --search-attribute RecurrenceOf=Keyword --search-attribute DryRun=Keyword
  abk_wait_ready temporal 60 "$STACK_DIR/temporal.log" "$LAUNCHED_PID" probe_temporal "$T_PORT"
  abk_wait_ready "temporal Web UI" 30 "$STACK_DIR/temporal.log" "$LAUNCHED_PID" \
    probe_http "http://127.0.0.1:$T_UI_PORT/"
}

# STACK_CODEC=1: the Web UI's codec endpoint (client/codec-server.ts), CORS for this stack's UI.
# Its secrets go through the environment of its own process only, never a command line.
start_codec_server() {
  local log="$STACK_DIR/codec-server.log" js="$ABK_REPO/dist/client/codec-server.js"
  if [[ ! -f "$js" ]]; then
    abk_log "codec-server: $js missing; running npm run build"
    (cd "$ABK_REPO" && npm run build) >>"$log" 2>&1 || {
      abk_log_tail "$log"
      abk_die "codec-server: npm run build failed; see $log"
    }
  fi
  (
    export PAYLOAD_CODEC_KEYS CODEC_SERVER_TOKEN CODEC_SERVER_HOST=127.0.0.1 \
      CODEC_SERVER_PORT="$CODEC_PORT" CODEC_SERVER_CORS_ORIGINS="$TEMPORAL_UI_URL"
    abk_launch codec-server "$(command -v node)" "$js"
  )
  abk_wait_ready codec-server 30 "$log" "$(cat "$STACK_DIR/codec-server.pid")" \
    probe_http "$CODEC_SERVER_URL/healthz"
}

start_sandbox() {
  local log="$STACK_DIR/sandbox.log" cli="$ABK_REPO/dist/sandbox/cli.js" pid
  if [[ ! -f "$cli" ]]; then
    if [[ -f "$ABK_REPO/sandbox/cli.ts" ]]; then
      abk_log "sandbox: $cli missing; running npm run build"
      (cd "$ABK_REPO" && npm run build) >>"$log" 2>&1 || {
        abk_log_tail "$log"
        abk_die "sandbox: npm run build failed; see $log"
      }
    else
      abk_die "sandbox: $cli not found (and no sandbox/cli.ts to build it from). Run 'npm run build', or set STACK_SKIP_SANDBOX=1 to start the stack without the sandbox AccuBooks API"
    fi
  fi
  printf '\n==== %s: build-image\n' "$(date -Is)" >>"$log"
  # shellcheck disable=SC2094  # both only append to the log
  if ! SANDBOX_IMAGE="$(cd "$ABK_REPO" && DOCKER_HOST="$DOCKER_HOST_URL" timeout 600 node "$cli" build-image 2>>"$log" | tee -a "$log" | tail -n 1)" || [[ -z "$SANDBOX_IMAGE" ]]; then
    abk_log_tail "$log"
    abk_die "sandbox: 'node dist/sandbox/cli.js build-image' failed; see $log"
  fi
  printf '\n==== %s: run --name %s --port %s --image %s\n' "$(date -Is)" "$SANDBOX_CONTAINER" "$API_PORT" "$SANDBOX_IMAGE" >>"$log"
  (cd "$ABK_REPO" && DOCKER_HOST="$DOCKER_HOST_URL" DATABASE_URL="$DATABASE_URL" REDIS_URL="$REDIS_URL" \
    timeout 180 node "$cli" run --name "$SANDBOX_CONTAINER" --port "$API_PORT" --image "$SANDBOX_IMAGE") >>"$log" 2>&1 || {
    abk_log_tail "$log"
    abk_die "sandbox: 'node dist/sandbox/cli.js run' failed; see $log (container logs: docker -H $DOCKER_HOST_URL logs $SANDBOX_CONTAINER)"
  }
  pid="$(docker_cli inspect -f '{{.State.Pid}}' "$SANDBOX_CONTAINER" 2>>"$log" || true)"
  [[ "$pid" =~ ^[1-9][0-9]*$ ]] || abk_die "sandbox: container $SANDBOX_CONTAINER is not running; see $log"
  abk_record_pid sandbox "$pid"
  abk_wait_ready sandbox 30 "$log" "$pid" probe_http "$ACCUBOOKS_API_URL/api/monitoring/health"
  # P0-3 freezes billing as the runbook role: it may read and flip the switch the app created, nothing more.
  PGPASSWORD="$PG_SUPER_PW" "$ABK_PG_BIN_DIR/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT" \
    -U postgres -d accubooks -c 'GRANT SELECT, UPDATE ON billing_config TO runbook' >>"$log" 2>&1 ||
    abk_die "sandbox: granting billing_config to the runbook role failed; see $log"
}

# Alertmanager with the project's receiver config (alerts/alertmanager/alertmanager.yml.tmpl): the
# runbook alerts go to the intake at STACK_INTAKE_PORT, with the token from a file of its own.
start_alertmanager() {
  local log="$STACK_DIR/alertmanager.log" tmpl cfg="$AM_DIR/alertmanager.yml" token="$AM_DIR/intake-token"
  local wait=10s interval=1m repeat=1h
  if [[ "$ALERT_TIMING" == fast ]]; then wait=1s interval=2s repeat=4s; fi
  rm -rf "$AM_DIR"
  mkdir -p "$AM_DIR/data"
  (umask 077 && printf '%s' "$STACK_INTAKE_TOKEN" >"$token")
  tmpl="$(<"$ABK_REPO/alerts/alertmanager/alertmanager.yml.tmpl")"
  tmpl="${tmpl//@@GROUP_WAIT@@/$wait}"
  tmpl="${tmpl//@@GROUP_INTERVAL@@/$interval}"
  tmpl="${tmpl//@@REPEAT_INTERVAL@@/$repeat}"
  tmpl="${tmpl//@@INTAKE_URL@@/http://127.0.0.1:$STACK_INTAKE_PORT/alerts/alertmanager}"
  tmpl="${tmpl//@@INTAKE_TOKEN_FILE@@/$token}"
  printf '%s\n' "$tmpl" >"$cfg"
  amtool check-config "$cfg" >>"$log" 2>&1 || {
    abk_log_tail "$log"
    abk_die "alertmanager: generated config $cfg is invalid (check alerts/alertmanager/alertmanager.yml.tmpl); see $log"
  }
  launch_alertmanager
}

# Runs Alertmanager on $AM_DIR/alertmanager.yml (made by start_alertmanager; reused by `start
# alertmanager`). No HA gossip (--cluster.listen-address=): it would bind *:9094 and two stacks clash.
launch_alertmanager() {
  abk_launch alertmanager "$(command -v prometheus-alertmanager)" --config.file="$AM_DIR/alertmanager.yml" \
    --storage.path="$AM_DIR/data" --web.listen-address="127.0.0.1:$AM_PORT" \
    --web.external-url="$ALERTMANAGER_URL" --cluster.listen-address= --log.level=warn
  abk_wait_ready alertmanager 30 "$STACK_DIR/alertmanager.log" "$LAUNCHED_PID" \
    probe_http "$ALERTMANAGER_URL/-/ready"
}

start_prometheus() {
  local cfg="$STACK_DIR/prometheus.yml" tmpl log="$STACK_DIR/prometheus.log" f
  # The glob is always listed: matching no file is fine for Prometheus, and rules added to alerts/
  # later are picked up by a reload (curl -X POST $PROMETHEUS_URL/-/reload) without a restart.
  local rules="['$ABK_REPO/alerts/*.yml']"
  if [[ "$ALERT_TIMING" == fast ]]; then
    # The same rules with every `for:` (the rule's and its `for` annotation) and every rate()
    # range shortened; a rule added to alerts/ later needs `down` + `up` here.
    local range='' # a sed expression: none keeps the rules' ranges
    if [[ -n "$ALERT_RATE_WINDOW" ]]; then range="/^[[:space:]]+expr: /s/\[[0-9]+[smh]\]\)/[$ALERT_RATE_WINDOW])/g"; fi
    mkdir -p "$AM_DIR/rules"
    for f in "$ABK_REPO"/alerts/*.yml; do
      [[ -e "$f" ]] || continue
      sed -E -e "s/^([[:space:]]+for: )'?[0-9]+[smh]'?[[:space:]]*$/\1'$ALERT_FOR'/" -e "$range" \
        "$f" >"$AM_DIR/rules/$(basename "$f")"
    done
    rules="['$AM_DIR/rules/*.yml']"
  fi
  tmpl="$(<"$ABK_REPO/scripts/prometheus.yml.tmpl")"
  tmpl="${tmpl//@@RULE_FILES@@/$rules}"
  tmpl="${tmpl//@@ALERTMANAGER_HOSTPORT@@/127.0.0.1:$AM_PORT}"
  tmpl="${tmpl//@@ACCUBOOKS_API_HOSTPORT@@/127.0.0.1:$API_PORT}"
  printf '%s\n' "$tmpl" >"$cfg"
  if command -v promtool >/dev/null 2>&1; then
    promtool check config "$cfg" >>"$log" 2>&1 || {
      abk_log_tail "$log"
      abk_die "prometheus: generated config $cfg is invalid (check alerts/*.yml); see $log"
    }
  fi
  rm -rf "$STACK_DIR/prometheus"
  launch_prometheus
  # Target discovery takes ~5 s; wait for the first good scrape so that tests can query at once.
  if [[ "${STACK_SKIP_SANDBOX:-0}" != 1 ]]; then
    abk_wait_ready "prometheus (first scrape of accubooks-api)" 30 "$log" "$LAUNCHED_PID" probe_prom_scraped
  fi
}

# Runs Prometheus on $STACK_DIR/prometheus.yml (made by start_prometheus; reused by `start prometheus`).
launch_prometheus() {
  local cfg="$STACK_DIR/prometheus.yml" log="$STACK_DIR/prometheus.log"
  abk_launch prometheus "$(command -v prometheus)" --config.file="$cfg" \
    --web.listen-address="127.0.0.1:$PROM_PORT" --storage.tsdb.path="$STACK_DIR/prometheus" \
    --web.enable-lifecycle --log.level=warn
  abk_wait_ready prometheus 30 "$log" "$LAUNCHED_PID" probe_http "$PROMETHEUS_URL/-/ready"
}

write_env() {
  local tmp="$ENV_FILE.tmp" name
  {
    printf '# Generated by scripts/stack.sh up at %s; source it.\n' "$(date -Is)"
    for name in STACK_DIR \
      DATABASE_URL RUNBOOK_DATABASE_URL PG_ADMIN_URL PG_BIN_DIR PGPORT_STACK PG_SOCKET_DIR \
      REDIS_URL STRIPE_API_BASE STRIPE_API_KEY DOCKER_HOST \
      TEMPORAL_ADDRESS TEMPORAL_NAMESPACE TEMPORAL_UI_URL TEMPORAL_CLI_PATH TEMPORAL_TEST_SERVER_PATH \
      ACCUBOOKS_API_URL ACCUBOOKS_API_CONTAINER SANDBOX_IMAGE PROMETHEUS_URL PAYLOAD_CODEC_KEYS \
      ALERTMANAGER_URL STACK_INTAKE_PORT STACK_INTAKE_TOKEN STACK_ALERT_TIMING STACK_ALERT_RATE_WINDOW APPROVAL_CODE_KEY GAMEDAY_TARGETS; do
      printf 'export %s=%q\n' "$name" "${!name}"
    done
    if [[ -n "${CODEC_SERVER_URL:-}" ]]; then
      for name in CODEC_SERVER_URL CODEC_SERVER_PORT CODEC_SERVER_TOKEN; do
        printf 'export %s=%q\n' "$name" "${!name}"
      done
    fi
  } >"$tmp"
  chmod 600 "$tmp"
  mv "$tmp" "$ENV_FILE"
}

# --- commands ----------------------------------------------------------------------------------
# shellcheck disable=SC2034  # the env values are read indirectly (${!name}) by write_env
cmd_up() {
  lock_stack
  if stack_is_up; then
    abk_log "stack already up in $STACK_DIR"
    if grep -qx sandbox "$STACK_DIR/.services" && ! sandbox_pid >/dev/null; then
      abk_warn "the sandbox container $SANDBOX_CONTAINER is not running (a fault, or a runbook at work?)"
    fi
    cat "$ENV_FILE"
    return 0
  fi
  if any_recorded_alive; then
    abk_log "stack in $STACK_DIR is partly running; stopping it first"
    do_down
  fi

  # Prerequisites (installed by scripts/setup.sh).
  local missing=()
  [[ -x "$ABK_PG_BIN_DIR/postgres" ]] || missing+=("$ABK_PG_BIN_DIR/postgres")
  command -v redis-server >/dev/null || missing+=(redis-server)
  command -v dockerd >/dev/null || missing+=(dockerd)
  command -v prometheus >/dev/null || missing+=(prometheus)
  command -v prometheus-alertmanager >/dev/null || missing+=(prometheus-alertmanager)
  command -v amtool >/dev/null || missing+=(amtool)
  [[ -x "$ABK_CACHE_BIN/stripe-mock" ]] || missing+=(".cache/bin/stripe-mock")
  TEMPORAL_CLI="$(abk_temporal_cli)"
  TEMPORAL_TEST_SERVER="$(abk_temporal_test_server)"
  [[ -n "$TEMPORAL_CLI" && -x "$TEMPORAL_CLI" ]] || missing+=("temporal CLI")
  [[ -n "$TEMPORAL_TEST_SERVER" && -x "$TEMPORAL_TEST_SERVER" ]] || missing+=("temporal-test-server")
  ((${#missing[@]} == 0)) || abk_die "missing: ${missing[*]} (run scripts/setup.sh)"

  trap 'up_failed $?' EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  local t0 ts
  t0="$(abk_now_ms)"
  rm -f "$ENV_FILE" "$STACK_DIR/.services"
  mkdir -p "$SHORT_DIR"

  local ports
  ports="$(abk_free_ports 13)" || abk_die "could not pick free ports"
  read -r PG_PORT REDIS_PORT STRIPE_PORT STRIPE_HTTPS_PORT T_PORT T_UI_PORT T_HTTP_PORT T_METRICS_PORT API_PORT PROM_PORT CODEC_PORT AM_PORT STACK_INTAKE_PORT <<<"$ports"
  PG_SUPER_PW="$(abk_secret)"
  PG_APP_PW="$(abk_secret)"
  PG_RUNBOOK_PW="$(abk_secret)"

  # Values for the env file.
  DATABASE_URL="postgresql://accubooks:$PG_APP_PW@127.0.0.1:$PG_PORT/accubooks"
  RUNBOOK_DATABASE_URL="postgresql://runbook:$PG_RUNBOOK_PW@127.0.0.1:$PG_PORT/accubooks"
  PG_ADMIN_URL="postgresql://postgres:$PG_SUPER_PW@127.0.0.1:$PG_PORT/postgres"
  PG_BIN_DIR="$ABK_PG_BIN_DIR"
  PGPORT_STACK="$PG_PORT"
  PG_SOCKET_DIR="$PG_SOCK_DIR" # may change in start_postgres
  REDIS_URL="redis://127.0.0.1:$REDIS_PORT"
  STRIPE_API_BASE="http://127.0.0.1:$STRIPE_PORT"
  STRIPE_API_KEY="$STRIPE_KEY"
  DOCKER_HOST="$DOCKER_HOST_URL"
  TEMPORAL_ADDRESS="127.0.0.1:$T_PORT"
  TEMPORAL_NAMESPACE=default
  TEMPORAL_UI_URL="http://127.0.0.1:$T_UI_PORT"
  TEMPORAL_CLI_PATH="$TEMPORAL_CLI"
  TEMPORAL_TEST_SERVER_PATH="$TEMPORAL_TEST_SERVER"
  ACCUBOOKS_API_URL="http://127.0.0.1:$API_PORT"
  ACCUBOOKS_API_CONTAINER="$SANDBOX_CONTAINER"
  GAMEDAY_TARGETS="$SANDBOX_CONTAINER=$ACCUBOOKS_API_URL" # game days may inject faults here only (config/game-day.ts)
  SANDBOX_IMAGE=""
  PROMETHEUS_URL="http://127.0.0.1:$PROM_PORT"
  # The worker's key for the approval codes' MACs (activities/approval-codes.ts): 256 bits.
  APPROVAL_CODE_KEY="$(abk_secret)$(abk_secret)"
  ALERTMANAGER_URL="http://127.0.0.1:$AM_PORT"
  STACK_INTAKE_TOKEN="$(abk_secret)" # Alertmanager's bearer token for the intake (a file for it)
  STACK_ALERT_TIMING="$ALERT_TIMING"
  # The rate() range the stack's Prometheus has in the rules; empty = the rules' own (1m).
  STACK_ALERT_RATE_WINDOW=""
  if [[ "$ALERT_TIMING" == fast ]]; then STACK_ALERT_RATE_WINDOW="$ALERT_RATE_WINDOW"; fi
  # Encrypted history (common/codec.ts), opt-in: STACK_CODEC=1 writes a fresh AES-256 key (id stack1).
  PAYLOAD_CODEC_KEYS=""
  CODEC_SERVER_URL="" # set = the codec server runs and the Web UI is given its endpoint
  if [[ "${STACK_CODEC:-0}" == 1 ]]; then
    PAYLOAD_CODEC_KEYS="stack1:$(head -c 32 /dev/urandom | base64 | tr -d '\n')"
    CODEC_SERVER_PORT="$CODEC_PORT"
    CODEC_SERVER_URL="http://127.0.0.1:$CODEC_PORT"
    CODEC_SERVER_TOKEN="$(abk_secret)"
  fi

  local started=() svc
  for svc in "${ALL_SERVICES[@]}"; do
    if [[ "$svc" == sandbox && "${STACK_SKIP_SANDBOX:-0}" == 1 ]]; then
      abk_warn "sandbox: skipped (STACK_SKIP_SANDBOX=1): no AccuBooks API at $ACCUBOOKS_API_URL"
      continue
    fi
    if [[ "$svc" == codec-server && -z "$CODEC_SERVER_URL" ]]; then continue; fi
    ts="$(abk_now_ms)"
    "start_${svc//-/_}"
    started+=("$svc")
    abk_log "$svc ready ($(abk_since "$ts"))"
  done
  printf '%s\n' "${started[@]}" >"$STACK_DIR/.services"
  write_env
  trap - EXIT
  abk_log "stack up in $(abk_since "$t0"): Temporal UI $TEMPORAL_UI_URL, Prometheus $PROMETHEUS_URL, API $ACCUBOOKS_API_URL"
  abk_log "env: source $ENV_FILE"
  cat "$ENV_FILE"
}

# STACK_KEEP_ON_FAIL=1: a failed `up` leaves what it started running, to look at.
keep_on_fail() {
  [[ "${STACK_KEEP_ON_FAIL:-0}" == 1 ]] || return 1
  abk_warn "up failed; leaving what was started running (STACK_KEEP_ON_FAIL=1); stop it with: STACK_DIR=$STACK_DIR scripts/stack.sh down"
}

up_failed() { abk_up_failed "$1" keep_on_fail; }

# Unmount anything left mounted under our docker folders (only after an unclean dockerd stop).
unmount_ours() {
  local mp
  while read -r mp; do
    umount -l "$mp" 2>/dev/null || true
  done < <(awk -v a="$DOCKER_DIR/" -v b="$SHORT_DIR/" \
    'index($2, a) == 1 || index($2, b) == 1 { print $2 }' /proc/self/mounts | sort -r)
}

do_down() {
  local ids
  if abk_recorded_pid dockerd >/dev/null && [[ -S "$DOCKER_SOCK" ]]; then
    ids="$(docker_cli ps -aq 2>/dev/null || true)"
    if [[ -n "$ids" ]]; then
      abk_log "removing containers of this stack's dockerd: $(echo "$ids" | tr '\n' ' ')"
      # shellcheck disable=SC2086
      docker_cli rm -f -v $ids >/dev/null 2>&1 || abk_warn "could not remove all containers"
    fi
  fi
  abk_stop_pid prometheus TERM 15
  abk_stop_pid alertmanager TERM 15
  abk_stop_pid sandbox TERM 10 # normally already gone with its container
  abk_stop_pid codec-server TERM 10
  abk_stop_pid temporal TERM 20
  abk_stop_pid stripe-mock TERM 5
  abk_stop_pid redis TERM 10
  abk_stop_pid postgres INT 30 # SIGINT = fast shutdown
  abk_stop_pid dockerd TERM 40
  abk_stop_pid containerd TERM 10 # stops with dockerd; this only makes sure
  unmount_ours
  rm -rf "$PG_DIR" "$STACK_DIR/prometheus" "$STACK_DIR"/temporal.db* "$DOCKER_EXEC" "$SHORT_DIR" \
    "$ENV_FILE" "$STACK_DIR/.services" "$STACK_DIR/prometheus.yml" "$DOCKER_DIR/dockerd.pid" "$AM_DIR" \
    "$DOCKER_SOCK"
}

cmd_down() {
  lock_stack
  do_down
  if [[ "${1:-}" == --purge ]]; then
    # Not `rm -rf $STACK_DIR`: another stack may live in a subfolder (scripts/test.sh uses .stack/test).
    rm -rf "$DOCKER_DIR" "$STACK_DIR"/*.log "$STACK_DIR"/.*.start "$STACK_DIR"/*.pid
    abk_log "stack purged (Docker image cache and logs removed from $STACK_DIR)"
  else
    abk_log "stack down ($STACK_DIR: logs and the Docker image cache kept; 'down --purge' removes them)"
  fi
}

cmd_status() {
  local svc pid rc=0 any=0
  printf 'stack %s\n' "$STACK_DIR"
  for svc in "${ALL_SERVICES[@]}" containerd; do
    if pid="$(service_pid "$svc")"; then
      printf '  %-12s running  pid %-8s log %s\n' "$svc" "$pid" "$STACK_DIR/${svc/containerd/dockerd}.log"
      any=1
    elif [[ -f "$STACK_DIR/$svc.pid" ]]; then
      printf '  %-12s DEAD     (pid file %s)\n' "$svc" "$STACK_DIR/$svc.pid"
    elif [[ "$svc" != containerd && "$svc" != codec-server ]]; then
      printf '  %-12s not running\n' "$svc"
    fi
  done
  if stack_is_up; then
    printf 'stack is UP; env (%s):\n' "$ENV_FILE"
    grep -v '^#' "$ENV_FILE" | sed -E 's#(://[^:/@]*:)[^@/]*@#\1***@#; s/^(export (PAYLOAD_CODEC_KEYS|CODEC_SERVER_TOKEN|STACK_INTAKE_TOKEN|APPROVAL_CODE_KEY)=).+/\1***/; s/^/  /'
  elif ((any)); then
    printf 'stack is PARTLY running (scripts/stack.sh down to stop it)\n'
    rc=1
  else
    printf 'stack is DOWN\n'
    rc=1
  fi
  return "$rc"
}

# `start SERVICE`: starts again one stopped service of a stack that is up (same ports, same data),
# e.g. after an outage test stopped it by its recorded pid. `up` cannot do that: it restarts the
# whole stack on new ports when any service is missing.
cmd_start() {
  local svc="${1:-}" url
  lock_stack
  [[ -f "$ENV_FILE" ]] || abk_die "no env file: the stack in $STACK_DIR is not up (scripts/stack.sh up)"
  # shellcheck disable=SC1090
  source "$ENV_FILE"
  if abk_recorded_pid "$svc" >/dev/null; then
    abk_log "$svc already running"
    return 0
  fi
  port_of() {
    url="${1#*://}"
    url="${url#*@}"
    url="${url%%/*}"
    printf '%s\n' "${url##*:}"
  }
  case "$svc" in
    postgres)
      PG_PORT="$PGPORT_STACK"
      PG_SOCK_DIR="$PG_SOCKET_DIR"
      [[ -d "$PG_DIR/data" ]] || PG_DIR="$SHORT_DIR/pg"
      [[ -d "$PG_DIR/data" ]] || abk_die "postgres: no cluster in $PG_DIR/data"
      launch_postgres
      ;;
    redis)
      REDIS_PORT="$(port_of "$REDIS_URL")"
      start_redis
      ;;
    stripe-mock)
      STRIPE_PORT="$(port_of "$STRIPE_API_BASE")"
      STRIPE_HTTPS_PORT="$(abk_free_ports 1)"
      start_stripe_mock
      ;;
    dockerd) start_dockerd ;;
    prometheus)
      PROM_PORT="$(port_of "$PROMETHEUS_URL")"
      launch_prometheus
      ;;
    alertmanager)
      AM_PORT="$(port_of "$ALERTMANAGER_URL")"
      [[ -f "$AM_DIR/alertmanager.yml" ]] || abk_die "alertmanager: no config in $AM_DIR"
      launch_alertmanager
      ;;
    *) abk_die "start: one of postgres, redis, stripe-mock, dockerd, prometheus, alertmanager (got '$svc')" ;;
  esac
  abk_log "$svc started again (pid $(abk_recorded_pid "$svc"))"
}

cmd_env() {
  [[ -f "$ENV_FILE" ]] || abk_die "no env file: the stack in $STACK_DIR is not up (scripts/stack.sh up)"
  cat "$ENV_FILE"
}

case "${1:-}" in
  up) cmd_up ;;
  down) cmd_down "${2:-}" ;;
  status) cmd_status ;;
  env) cmd_env ;;
  start) cmd_start "${2:-}" ;;
  *)
    echo "usage: $0 up|down [--purge]|status|env|start <service>" >&2
    exit 2
    ;;
esac
