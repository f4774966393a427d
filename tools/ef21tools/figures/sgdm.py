"""Beyond the paper: ||EF21-SGDM|| against EF21-SGDM with minibatches.

Breast-cancer and a1a, 10 clients of contiguous rows, minibatches of 8 rows, top-k with k = 10%
of d, several seeds; the constant (gamma, eta) of both methods is chosen on one grid with a
tuning seed that is not an evaluation seed. ||EF21-SGDM|| with its Theorem 2 stepsize is shown
as well.
"""

import math
import os

from .. import plots, stats
from ..runner import RunFailed
from ..tables import fmt, markdown_table, write_table
from .common import DATA, EPS

NAME = "sgdm"
TITLE = "Beyond the paper: ||EF21-SGDM|| against EF21-SGDM"

# (name, data flags, d)
DATASETS = [("breast-cancer", [f"--data={DATA}/breast-cancer_scale"], 10),
            ("a1a", [f"--data={DATA}/a1a", "--features=123"], 123)]
GRIDS = {
    "full": {"K": 1000, "seeds": 5, "tune_seed": 100,
             "gammas": (0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1, 3),
             "etas": (0.03, 0.1, 0.3, 1)},
    "tiny": {"K": 30, "seeds": 2, "tune_seed": 100, "gammas": (0.01, 0.1), "etas": (0.1, 1)},
}
ALGOS = [("EF21-SGDM", "ef21-sgdm"), ("||EF21-SGDM||", "norm-ef21-sgdm")]


def tuning_band(ctx, flags, out_dir):
    """The band (mean ||grad f||^2, last 10% of rounds) of a grid point; inf when it diverged.

    A stepsize that is too large may overflow and make the run fail; for tuning that is a
    result (the point is not chosen), not an error.
    """
    try:
        band = ctx.run(flags, out_dir, keep_metrics=False).band_gns
    except RunFailed:
        return math.inf
    return band if math.isfinite(band) else math.inf


def run(ctx, exp_dir):
    grid = ctx.grid(GRIDS)
    K, seeds, tune_seed = grid["K"], range(grid["seeds"]), grid["tune_seed"]
    gammas, etas = grid["gammas"], grid["etas"]
    sets, algos = DATASETS, ALGOS
    # 10 clients of contiguous rows, 8 rows per minibatch (with replacement), top-k with k = 10%
    # of d: a setting where the gradients are really stochastic (one row per client would not be).
    common = ["--problem=logreg", "--split=contiguous", "--clients=10", "--batch=8",
              "--compressor=top-k", f"--rounds={K}"]

    def flags(dflags, d, algo, seed, gamma=None, eta=None):
        f = common + dflags + [f"--k={max(1, round(0.1 * d))}", f"--algorithm={algo}",
                               f"--seed={seed}"]
        if gamma is None:
            return f + ["--stepsize=theory"]
        return f + ["--stepsize=constant", f"--gamma={gamma:g}", f"--eta={eta:g}"]

    # Tuning: every (gamma, eta) of the grid, both methods, on the tuning seed; the choice
    # minimizes the mean ||grad f||^2 over the last 10% of rounds (a band: robust to one lucky
    # dip, fair to oscillating normalized steps).
    tune_keys, tasks = [], []
    for name, dflags, d in sets:
        for label, algo in algos:
            for g in gammas:
                for e in etas:
                    run_dir = os.path.join(exp_dir, "tuning", f"{name}_{algo}_g{g:g}_e{e:g}")
                    tune_keys.append((name, label, g, e))
                    tasks.append(lambda f=flags(dflags, d, algo, tune_seed, g, e), r=run_dir:
                                 tuning_band(ctx, f, r))
    tuned = dict(zip(tune_keys, ctx.parallel(tasks)))
    best, tune_rows = {}, []
    for name, _, _ in sets:
        for label, _ in algos:
            cand = [(tuned[(name, label, g, e)], g, e) for g in gammas for e in etas]
            cand = [c for c in cand if math.isfinite(c[0])]
            if not cand:
                raise RunFailed(f"sgdm: every (γ, η) of the grid diverged for {label} on {name}")
            best[(name, label)] = min(cand)[1:]
            for g in gammas:
                tune_rows.append([name, label, fmt(g)] + [
                    fmt(tuned[(name, label, g, e)]) for e in etas])
    with open(os.path.join(exp_dir, "tuning.md"), "w") as f:
        f.write(f"Mean ‖∇f‖² over the last 10% of {K} rounds, tuning seed {tune_seed}, "
                f"per (γ, η); the smallest is chosen.\n\n")
        f.write(markdown_table(["data set", "method", "γ \\ η"] +
                               [f"η = {e:g}" for e in etas], tune_rows))

    methods = [(f"{label}, tuned", algo, True) for label, algo in algos]
    methods.append(("||EF21-SGDM||, Theorem 2", "norm-ef21-sgdm", False))
    keys, tasks = [], []
    for name, dflags, d in sets:
        for mlabel, algo, is_tuned in methods:
            g, e = best[(name, mlabel.split(",")[0])] if is_tuned else (None, None)
            for seed in seeds:
                run_dir = os.path.join(exp_dir, "runs", f"{name}_{algo}_{int(is_tuned)}_s{seed}")
                keys.append((name, mlabel, seed))
                tasks.append(lambda f=flags(dflags, d, algo, seed, g, e), r=run_dir: ctx.run(f, r))
    results = dict(zip(keys, ctx.parallel(tasks)))

    panels, rows = [], []
    for name, _, d in sets:
        series = []
        for mlabel, _, _ in methods:
            rs = [results[(name, mlabel, s)] for s in seeds]
            series.append({"label": mlabel, "metrics": [r.metrics() for r in rs]})
            reached = [r.rounds_to_eps for r in rs]
            rows.append([name, str(max(1, round(0.1 * d))), mlabel, fmt(rs[0].gamma),
                         fmt(rs[0].eta), stats.spread([r.band_gns for r in rs]),
                         stats.spread([r.min_gns for r in rs]), stats.spread(reached, "reached")])
        panels.append({"title": f"{name}, 10 clients, batch 8, K = {K}", "series": series})
    plots.band_figure(os.path.join(exp_dir, "sgdm.png"), panels, eps=EPS,
                      title="Beyond the paper: momentum, minibatches, top-k (k = 10% of d)")
    header = ["data set", "k", "method", "γ", "η", "mean ‖∇f‖², last 10% of rounds: median "
              f"[range] over seeds 0–{len(seeds) - 1}", "min ‖∇f‖²: median [range]",
              "rounds to ε: median [range]"]
    md = write_table(exp_dir, header, rows)
    wins = []
    for name, _, _ in sets:
        n = [results[(name, methods[1][0], s)].band_gns for s in seeds]
        e = [results[(name, methods[0][0], s)].band_gns for s in seeds]
        wins.append(f"{name}: tuned ||EF21-SGDM|| has the smaller final band in "
                    f"{sum(a < b for a, b in zip(n, e))}/{len(n)} seeds")
    md += "\n" + "; ".join(wins) + ".\n\nTuning grid (see tuning.md): γ ∈ {" + \
        ", ".join(f"{g:g}" for g in gammas) + "}, η ∈ {" + ", ".join(f"{e:g}" for e in etas) + \
        f"}}, seed {tune_seed}; chosen: " + "; ".join(
            f"{n} {lab}: γ = {best[(n, lab)][0]:g}, η = {best[(n, lab)][1]:g}"
            for n, _, _ in sets for lab, _ in algos) + ".\n"
    return md, ["sgdm.png"]
