#!/usr/bin/env bash
# Configures and builds ef21 into build/ (binary: build/bin/ef21).
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
cmake --build build -j "$jobs"
