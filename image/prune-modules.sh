#!/bin/sh
# Drops from a production node_modules what the image never runs: the Temporal core's native
# builds for other platforms (about 110 MB) and its Rust sources. Usage: prune-modules.sh NODE_MODULES
set -eu
modules="$1"
bridge="$modules/@temporalio/core-bridge"
case "$(uname -m)" in
  x86_64) keep=x86_64-unknown-linux-gnu ;;
  aarch64 | arm64) keep=aarch64-unknown-linux-gnu ;;
  *) keep="" ;;
esac
if [ -n "$keep" ] && [ -d "$bridge/releases/$keep" ]; then
  for d in "$bridge"/releases/*; do
    [ "$(basename "$d")" = "$keep" ] || rm -rf "$d"
  done
fi
rm -rf "$bridge/sdk-core" "$bridge/src" "$bridge/Cargo.toml" "$bridge/Cargo.lock"
