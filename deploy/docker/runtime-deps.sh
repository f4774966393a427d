#!/bin/sh
# Prints, one per line, the Debian packages that provide the shared libraries a binary loads
# (ldd → dpkg -S). Used by the Dockerfile's build stage so the runtime stage installs exactly
# the libraries the binary needs, and nothing from the build toolchain.
# Usage: runtime-deps.sh BINARY...   Fails if a library is missing or belongs to no package.
set -eu
out=$(mktemp)
trap 'rm -f "$out"' EXIT
status=0
for bin in "$@"; do
  libs=$(ldd "$bin") || { echo "runtime-deps: ldd failed on $bin" >&2; exit 1; }
  if printf '%s\n' "$libs" | grep -q 'not found'; then
    printf '%s\n' "$libs" | grep 'not found' >&2
    exit 1
  fi
  for lib in $(printf '%s\n' "$libs" | awk '$2 == "=>" && $3 ~ /^\// { print $3 }'); do
    pkg=""
    real=$(readlink -f "$lib")
    # Bookworm's dpkg database records either /lib or /usr/lib paths (merged /usr); try both.
    for cand in "$lib" "$real" "${lib#/usr}" "/usr$lib" "${real#/usr}" "/usr$real"; do
      pkg=$(dpkg -S "$cand" 2>/dev/null | head -n1 | cut -d: -f1) && [ -n "$pkg" ] && break
    done
    if [ -z "$pkg" ]; then
      echo "runtime-deps: no package owns $lib" >&2
      status=1
      continue
    fi
    echo "$pkg" >>"$out"
  done
done
sort -u "$out"
exit $status
