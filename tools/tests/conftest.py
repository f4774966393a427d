"""pytest setup for tools/tests: ef21tools importable, the ef21 binary from $EF21_BINARY."""

import os
import sys

import pytest

TOOLS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPO = os.path.dirname(TOOLS)
sys.path.insert(0, TOOLS)


@pytest.fixture
def ef21_binary():
    """The binary under test (ctest sets EF21_BINARY); tests that run it are skipped without."""
    path = os.environ.get("EF21_BINARY") or os.path.join(REPO, "build", "bin", "ef21")
    if not os.access(path, os.X_OK):
        pytest.skip(f"no ef21 binary (set EF21_BINARY; tried {path})")
    return path
