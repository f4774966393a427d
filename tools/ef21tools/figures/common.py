"""What the figure modules share: the target, the paper's method names, the problem flags."""

import os

from ..runner import REPO

EPS = 1e-4  # target on ||grad f(x^t)||^2
NORM = "||EF21||"  # the paper's name for norm-ef21 (Algorithm 1)
# The polynomial of Figures 1 and 4 (SPEC §5): d = 4, top-1, L0 = 4.
POLY = ["--problem=polynomial", "--dim=4", "--L0=4", "--compressor=top-k", "--k=1"]
DATA = os.path.join(REPO, "data", "libsvm")
