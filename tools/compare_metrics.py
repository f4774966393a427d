#!/usr/bin/env python3
"""Compares two runs' metrics.csv cell by cell as text: see tools/ef21tools/compare.py.

usage: compare_metrics.py A B [--columns 1-9] [--min-rows N] [--quiet]
       (A, B: metrics.csv files or run directories; exit 0 identical, 1 different, 2 bad input)
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ef21tools.compare import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
