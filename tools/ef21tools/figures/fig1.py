"""Figure 1: the nonconvex polynomial (d = 4, top-1, L0 = 4, L1 in {1, 4, 8}).

EF21 (its Theorem 1 gamma) against ||EF21|| with gamma = 1/(2 c1) (Theorem 3) and with
gamma0/sqrt(K+1), K = 2000/5000/16000; the table also covers several seeds of x^0. EF21 and
||EF21|| with 1/(2 c1) use constant steps that do not depend on K, so they run beyond the figure's
K (up to `cap` rounds) to find their rounds to eps; the plot and the minimum stop at K.
"""

import os

from .. import plots, stats
from ..tables import fmt, write_table
from .common import EPS, NORM, POLY

NAME = "fig1"
TITLE = "Figure 1: nonconvex polynomial"

# K per L1; seeds 0..seeds-1 of x^0; cap = rounds of the constant-step methods.
GRIDS = {
    "full": {"K_of_L1": {1: 2000, 4: 5000, 8: 16000}, "seeds": 5, "cap": 100000},
    "tiny": {"K_of_L1": {1: 2000, 4: 300, 8: 400}, "seeds": 2, "cap": 3000},
}

# (label, flags, runs to the cap)
METHODS = [
    ("EF21", ["--algorithm=ef21", "--stepsize=theory"], True),
    (f"{NORM}, γ = 1/(2c₁)", ["--algorithm=norm-ef21", "--stepsize=theory-l1"], True),
    (f"{NORM}, γ = γ₀/√(K+1), γ₀=1", ["--algorithm=norm-ef21", "--stepsize=theory",
                                      "--gamma0=1"], False),
]


def run(ctx, exp_dir):
    grid = ctx.grid(GRIDS)
    K_of, seeds, cap = grid["K_of_L1"], range(grid["seeds"]), grid["cap"]
    jobs = []
    for L1, K in K_of.items():
        for mi, (label, flags, to_cap) in enumerate(METHODS):
            for seed in seeds:
                rounds = cap if to_cap else K
                run_dir = os.path.join(exp_dir, "runs", f"L1_{L1}", f"m{mi}", f"seed{seed}")
                f = POLY + [f"--L1={L1}", f"--rounds={rounds}", f"--seed={seed}"] + flags
                jobs.append(((L1, mi, seed), lambda f=f, d=run_dir, K=K, s=seed: ctx.run(
                    f, d, window=K, keep_metrics=(s == 0))))
    results = dict(zip([k for k, _ in jobs], ctx.parallel([j for _, j in jobs])))

    panels, rows = [], []
    for L1, K in K_of.items():
        series = []
        for mi, (label, _, to_cap) in enumerate(METHODS):
            r0 = results[(L1, mi, 0)]
            series.append({"label": label, "metrics": r0.metrics(max_round=K)})
            reach = r0.rounds_to_eps
            reach_text = fmt(reach)
            if reach is not None and reach > K:
                reach_text += f" (> K; run to {r0.summary['rounds']})"
            elif reach is None and to_cap:
                reach_text = f"not within {r0.summary['rounds']}"
            elif reach is None:
                reach_text = f"not within K={K}"
            rows.append([f"{L1:g}", str(K), label, fmt(r0.gamma), reach_text,
                         fmt(r0.bits_to_eps), fmt(r0.min_gns), fmt(r0.band_gns),
                         stats.spread([results[(L1, mi, s)].rounds_to_eps for s in seeds])])
        panels.append({"title": f"L1 = {L1}, K = {K}", "series": series})
    plots.curves_figure(os.path.join(exp_dir, "fig1.png"), panels, eps=EPS,
                        title="Polynomial, d=4, top-1, L0=4 (Figure 1)")
    header = ["L1", "K", "method", "γ", "rounds to ε (seed 0)", "bits/client to ε",
              "min ‖∇f‖², t ≤ K", "mean ‖∇f‖², last 10% of t ≤ K",
              f"rounds to ε, seeds 0–{len(seeds) - 1}: median [range]"]
    return write_table(exp_dir, header, rows), ["fig1.png"]
