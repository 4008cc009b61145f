#!/bin/sh
# Collects pg_dump (P0-4's "Preserve evidence"; the worker runs it from PG_BIN_DIR) and every
# library it loads into DEST, at the paths a merged-/usr Debian gives them (the image's layout), so
# that the image carries the PostgreSQL 15 client without a shell or a package manager in it.
# Usage: collect-pg-client.sh DEST [BIN_DIR]   (BIN_DIR: /usr/lib/postgresql/15/bin)
set -eu
dest="$1"
bin="${2:-/usr/lib/postgresql/15/bin}"
if [ ! -x "$bin/pg_dump" ]; then
  echo "collect-pg-client: no pg_dump in $bin (install postgresql-client-15)" >&2
  exit 1
fi
rm -rf "$dest"
mkdir -p "$dest$bin"
cp "$bin/pg_dump" "$dest$bin/"
# ldd prints each library's path (and the loader's): copied under its real folder, by the name the
# loader asks for. glibc's own (the loader, libc, libm, libresolv…) is the base's: not copied over it.
for lib in $(ldd "$bin/pg_dump" | grep -o '/[^ ]*'); do
  case "$(basename "$lib")" in
    ld-linux* | libc.so.* | libm.so.* | libresolv.so.* | libpthread.so.* | libdl.so.* | librt.so.*) continue ;;
  esac
  dir="$(realpath "$(dirname "$lib")")"
  mkdir -p "$dest$dir"
  cp -L "$lib" "$dest$dir/$(basename "$lib")"
done
