#!/usr/bin/env bash
# The README's test command: install what is missing, build, run the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
scripts/build.sh
# Every target is built: docs_test must run the commands that need ef21-networks, never skip them.
export EF21_DOCS_REQUIRE_NETWORKS=1
cd build
ctest --output-on-failure -j "$(nproc)" "$@"
