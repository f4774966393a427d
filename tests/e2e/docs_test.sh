#!/usr/bin/env bash
# Docs test: every command in README.md and docs/DEPLOY.md that can run on this machine runs once,
# the others are listed with the reason (tests/e2e/docs_test.py says how each one runs).
# Usage: docs_test.sh EF21_BINARY SOURCE_DIR      (ctest passes both)
set -euo pipefail
exec /usr/bin/python3 "${2:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/e2e/docs_test.py" "$@"
