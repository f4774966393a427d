#!/usr/bin/python3
"""Reproduces the paper's figures with the ef21 binary: see tools/ef21tools/experiments.py.

    /usr/bin/python3 tools/experiments.py [--out runs/experiments] [--only fig1,fig2 ...] [--tiny]
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ef21tools.experiments import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
