#!/usr/bin/python3
"""Summary table and plot of finished runs, for scripts/demo.sh: see tools/ef21tools/demo_report.py.

usage: demo_report.py --plot OUT.png --title TITLE LABEL=RUN_DIR [LABEL=RUN_DIR ...]
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ef21tools.demo_report import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
