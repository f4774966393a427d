"""Figure 2: logistic regression with the nonconvex regularizer, one data row per client.

Synthetic 20x10, breast-cancer and a1a; ||EF21|| (gamma0 = 1, gamma0/sqrt(K+1)) against EF21
(Theorem 1), top-k with k = 1, 5 and 10% of d; K = 100/100/400 as in the paper.
"""

import os

from .. import plots, stats
from ..tables import fmt, write_table
from .common import DATA, EPS, NORM

NAME = "fig2"
TITLE = "Figure 2: logistic regression, one row per client"

# (name, data flags, d)
DATASETS = [("synthetic 20×10", ["--synthetic=20x10"], 10),
            ("breast-cancer", [f"--data={DATA}/breast-cancer_scale"], 10),
            ("a1a", [f"--data={DATA}/a1a", "--features=123"], 123)]
# K (rounds) per data set; seeds 0..seeds-1 (the seed also draws x^0 and the synthetic data).
GRIDS = {
    "full": {"K": {"synthetic 20×10": 100, "breast-cancer": 100, "a1a": 400}, "seeds": 5},
    "tiny": {"K": {"synthetic 20×10": 10, "breast-cancer": 10, "a1a": 10}, "seeds": 2},
}
METHODS = [("EF21", ["--algorithm=ef21", "--stepsize=theory"]),
           (NORM, ["--algorithm=norm-ef21", "--stepsize=theory", "--gamma0=1"])]
K_CHOICES = ("k1", "k5", "k10pct")


def datasets(ctx):
    """(name, flags, d, K) of the context's grid."""
    K = ctx.grid(GRIDS)["K"]
    return [(name, flags, d, K[name]) for name, flags, d in DATASETS]


def k_choices(d):
    """The k of Figure 2: 1 (the EF21 code's default), 5 and 10% of d; labels name coincidences."""
    ten = max(1, round(0.1 * d))
    return [("k1", 1, "k = 1" + (" (= 10% of d)" if ten == 1 else "")),
            ("k5", 5, "k = 5"),
            ("k10pct", ten, f"k = {ten} (10% of d)" + (" (= k = 1)" if ten == 1 else ""))]


def runs(ctx, exp_dir, seeds, transport=None):
    """Runs every (data set, k, method, seed) of Figure 2 once; {key: Result}."""
    keys, tasks = [], []
    for name, dflags, d, K in datasets(ctx):
        for k in sorted({k for _, k, _ in k_choices(d)}):
            for mname, mflags in METHODS:
                for seed in seeds:
                    f = (["--problem=logreg", "--split=row", "--compressor=top-k", f"--k={k}",
                          f"--rounds={K}", f"--seed={seed}"] + dflags + mflags)
                    slug = f"{name.split()[0]}_k{k}_{mflags[0].split('=')[1]}_seed{seed}"
                    run_dir = os.path.join(exp_dir, "runs", slug)
                    keys.append((name, k, mname, seed))
                    tasks.append(lambda f=f, r=run_dir: ctx.run(f, r, transport=transport))
    return dict(zip(keys, ctx.parallel(tasks)))


def figures(ctx, exp_dir, results, seed=0):
    """fig2_<k choice>.png for one seed: the data sets side by side."""
    pngs = []
    for choice in K_CHOICES:
        panels = []
        for name, _, d, K in datasets(ctx):
            _, k, label = next(c for c in k_choices(d) if c[0] == choice)
            panels.append({"title": f"{name}, {label}, K = {K}", "series": [
                {"label": m, "metrics": results[(name, k, m, seed)].metrics()}
                for m, _ in METHODS]})
        png = f"fig2_{choice}.png"
        k_text = {"k1": "k = 1", "k5": "k = 5", "k10pct": "k = 10% of d"}[choice]
        plots.curves_figure(os.path.join(exp_dir, png), panels, eps=EPS,
                            title=f"Logistic regression, one row per client, top-k with {k_text} "
                                  "(Figure 2)")
        pngs.append(png)
    return pngs


def run(ctx, exp_dir):
    seeds = range(ctx.grid(GRIDS)["seeds"])
    results = runs(ctx, exp_dir, seeds)
    rows = []
    for name, _, d, K in datasets(ctx):
        for k in sorted({k for _, k, _ in k_choices(d)}):
            ef, nm = ([results[(name, k, m, s)] for s in seeds] for m, _ in METHODS)
            wins = sum(n.min_gns < e.min_gns for n, e in zip(nm, ef))
            for mname, rs in (("EF21", ef), (NORM, nm)):
                r0 = rs[0]
                rows.append([name, f"{k} (α = {k / d:.3g})", str(K), mname, fmt(r0.gamma),
                             fmt(r0.rounds_to_eps) if r0.rounds_to_eps is not None
                             else "not within K", fmt(r0.bits_to_eps),
                             fmt(r0.min_gns), fmt(r0.summary["final_grad_norm"] ** 2),
                             fmt(r0.summary["final_loss"]),
                             stats.spread([r.min_gns for r in rs]),
                             f"{wins}/{len(rs)}" if mname == NORM else ""])
    pngs = figures(ctx, exp_dir, results)
    header = ["data set", "k", "K", "method", "γ (seed 0)", "rounds to ε", "bits/client to ε",
              "min ‖∇f‖² (seed 0)", "final ‖∇f‖² (seed 0)", "final loss (seed 0)",
              f"min ‖∇f‖², seeds 0–{len(seeds) - 1}: median [range]",
              f"{NORM} smaller min ‖∇f‖²"]
    return write_table(exp_dir, header, rows), pngs
