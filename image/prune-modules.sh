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
# Packages' test fixtures that are private keys (ssh2's id_rsa, *.pem, *.key): public test data, but
# nothing key-shaped belongs in the image, and the image's secret scan would rightly flag them.
find "$modules" -path '*/test*' \( -name 'id_rsa*' -o -name '*.pem' -o -name '*.key' -o -name '*.ppk' \) -type f -exec rm -f {} +
