#!/usr/bin/env bash
# The README's test command: install what is missing, build, run the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
scripts/build.sh
cd build
ctest --output-on-failure -j "$(nproc)" "$@"
