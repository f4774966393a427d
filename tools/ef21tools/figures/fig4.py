"""Figure 4: the smallest K on a grid with which ||EF21||, gamma = gamma0/sqrt(K+1), reaches
||grad f||^2 < 1e-4 on the polynomial, for gamma0 in {0.1, 1, 10}, several L1 and seeds.

Grids are capped; a (L1, gamma0) that no K within the cap reaches is probed for seed 0 at
K = 2, 4, 8, 16 x cap ("not reached within the cap").
"""

import os

from .. import plots, stats
from ..tables import fmt, write_table
from .common import NORM, POLY

NAME = "fig4"
TITLE = "Figure 4: smallest K reaching ε on a grid"

# grid: gamma0 -> (K step, cap): the paper's steps; the caps keep the full run within minutes.
GRIDS = {
    "full": {"L1s": (1, 4, 8), "gamma0s": (0.1, 1, 10), "seeds": 5,
             "grid": {0.1: (5000, 250000), 1: (500, 50000), 10: (500, 50000)}},
    "tiny": {"L1s": (1, 8), "gamma0s": (0.1, 1, 10), "seeds": 1,
             "grid": {0.1: (5000, 10000), 1: (500, 3000), 10: (500, 3000)}},
}
PROBE_MULTIPLES = (2, 4, 8, 16)


def run(ctx, exp_dir):
    g = ctx.grid(GRIDS)
    L1s, gamma0s, seeds, grid = g["L1s"], g["gamma0s"], range(g["seeds"]), g["grid"]

    def reaches(L1, g0, seed, K):
        """The first round of the run with K rounds that is below eps, or None."""
        f = POLY + [f"--L1={L1}", "--algorithm=norm-ef21", "--stepsize=theory",
                    f"--gamma0={g0:g}", f"--rounds={K}", f"--seed={seed}"]
        d = os.path.join(exp_dir, "runs", f"L1_{L1}_g0_{g0:g}_seed{seed}")
        return ctx.run(f, d, keep_metrics=False, stats=False).rounds_to_eps

    def scan(L1, g0, seed):
        """The first K = step, 2 step, ... <= cap whose run reaches eps: (K, first round)."""
        step, cap = grid[g0]
        for K in range(step, cap + 1, step):
            first = reaches(L1, g0, seed, K)
            if first is not None:
                return K, first
        return None, None

    def probe(L1, g0):
        """Beyond the cap, seed 0 only: the first of K = 2, 4, 8, 16 x cap that reaches eps."""
        for K in (m * grid[g0][1] for m in PROBE_MULTIPLES):
            if reaches(L1, g0, 0, K) is not None:
                return f"K = {K} reaches"
        return f"none up to K = {PROBE_MULTIPLES[-1] * grid[g0][1]}"

    keys = [(L1, g0, s) for L1 in L1s for g0 in gamma0s for s in seeds]
    found = dict(zip(keys, ctx.parallel([lambda k=k: scan(*k) for k in keys])))
    missed = [(L1, g0) for L1 in L1s for g0 in gamma0s if found[(L1, g0, 0)][0] is None]
    probed = dict(zip(missed, ctx.parallel([lambda m=m: probe(*m) for m in missed])))

    rows, csv_rows = [], []
    for L1 in L1s:
        for g0 in gamma0s:
            step, cap = grid[g0]
            Ks = [found[(L1, g0, s)][0] for s in seeds]
            firsts = [found[(L1, g0, s)][1] for s in seeds]
            rows.append([f"{L1:g}", f"{g0:g}", f"{step} / {cap}",
                         ", ".join(fmt(k) if k else f">{cap}" for k in Ks),
                         stats.spread(Ks, "reached within the cap"),
                         ", ".join(fmt(t) for t in firsts), probed.get((L1, g0), "")])
            csv_rows.append([L1, g0, step, cap, " ".join(str(k) if k else "none" for k in Ks),
                             rows[-1][4], " ".join(str(t) if t else "none" for t in firsts),
                             rows[-1][6]])
    plots.bars_figure(
        os.path.join(exp_dir, "fig4.png"), [f"L1 = {L1}" for L1 in L1s],
        [f"γ₀ = {g0:g}" for g0 in gamma0s],
        [[[found[(L1, g0, s)][0] for s in seeds] for g0 in gamma0s] for L1 in L1s],
        [grid[g0][1] for g0 in gamma0s],
        title=f"{NORM}, γ = γ₀/√(K+1): smallest K reaching ‖∇f‖² < 1e-4 (Figure 4)",
        ylabel="smallest K on the grid")
    header = ["L1", "γ₀", "grid step / cap", f"K per seed 0–{len(seeds) - 1}",
              "median [range]", "first round below ε (per seed)",
              "seed 0 beyond the cap (K = 2, 4, 8, 16 × cap)"]
    return write_table(exp_dir, header, rows, csv_rows), ["fig4.png"]
