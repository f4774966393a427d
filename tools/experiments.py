#!/usr/bin/python3
"""Reproduces the paper's figures with the ef21 binary: one named experiment per figure.

    /usr/bin/python3 tools/experiments.py [--out runs/experiments] [--only fig1,fig2 ...]
        [--binary build/bin/ef21] [--jobs 2] [--tiny] [--transport simulate|run]
        [--worker-processes 2] [--copy-figures docs/figures]

Experiments (SPEC sections 5 and 7; docs/RESULTS.md shows and discusses the results):

  fig1             polynomial d=4, top-1, L0=4, L1 in {1,4,8}: EF21 (its Theorem 1 gamma) against
                   ||EF21|| with gamma = 1/(2 c1) (Theorem 3) and gamma0/sqrt(K+1),
                   K = 2000/5000/16000; the table also covers several seeds of x^0.
  fig4             smallest K on a grid (step 500; 5000 for gamma0 = 0.1) with which ||EF21||,
                   gamma = gamma0/sqrt(K+1), reaches ||grad f||^2 < 1e-4, for gamma0 in
                   {0.1,1,10}, L1 in {1,4,8}, several seeds; grids are capped ("not reached
                   within the cap").
  fig2             logistic regression with the nonconvex regularizer, one row per client:
                   synthetic 20x10, breast-cancer, a1a; ||EF21|| (gamma0 = 1, K = 100/100/400)
                   against EF21 (Theorem 1), k = 1, 5 and 10% of d.
  sgdm             beyond the paper: ||EF21-SGDM|| against EF21-SGDM with minibatches on
                   breast-cancer and a1a, several seeds; constant (gamma, eta) of both chosen on
                   one grid with a tuning seed that is not an evaluation seed.
  fig2-federation  fig2 (seed 0) through `ef21 simulate` and through `ef21 run` (gRPC on
                   loopback): metrics.csv columns 1-9 must be identical byte for byte, and so
                   must the figures drawn from them. Skipped (with a note) when the binary has
                   no `run` command, unless asked for by --only.

Each experiment writes OUT/NAME/: runs/ (run directories), *.png, table.md, table.csv; OUT/report.md
collects every table with the time each experiment took. --tiny runs every code path in seconds
(small K, few seeds): the test tests/e2e/experiments_test.sh uses it. Exit status: 0 when every
experiment ran (and the federation check found the transports identical), 1 otherwise, 2 on usage
errors.

Only the Python standard library, numpy and matplotlib (Debian's, hence /usr/bin/python3).
"""

import argparse
import concurrent.futures
import csv
import hashlib
import json
import math
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import plots  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EPS = 1e-4
NORM = "||EF21||"  # the paper's name for norm-ef21 (Algorithm 1)


class RunFailed(Exception):
    pass


class Context:
    """Options shared by every experiment, and the runner of the ef21 binary."""

    def __init__(self, args):
        self.binary = os.path.abspath(args.binary)
        self.out = os.path.abspath(args.out)
        self.jobs = max(1, args.jobs)
        self.tiny = args.tiny
        self.transport = args.transport
        self.worker_processes = args.worker_processes
        self._help = {}

    def command_help(self, command):
        """`ef21 COMMAND --help`, or None when the binary has no such command."""
        if command not in self._help:
            p = subprocess.run([self.binary, command, "--help"], capture_output=True, text=True)
            text = p.stdout + p.stderr
            self._help[command] = text if p.returncode == 0 and f"ef21 {command}" in text else None
        return self._help[command]

    def has_command(self, command):
        return self.command_help(command) is not None

    def run(self, flags, out_dir, transport=None, keep_metrics=True, window=None, stats=True):
        """Runs one configuration into out_dir and returns its Result.

        transport: "simulate" or "run" (default: --transport). keep_metrics=False deletes
        metrics.csv after reading what the tables need (long grid scans would fill the disk).
        window: statistics of metrics.csv over rounds t <= window (default: the whole run);
        stats=False: summary.json only (parsing a long metrics.csv costs more than the run).
        """
        transport = transport or self.transport
        if os.path.exists(out_dir):
            shutil.rmtree(out_dir)
        os.makedirs(os.path.dirname(out_dir), exist_ok=True)
        cmd = [self.binary, transport] + list(flags) + [f"--out={out_dir}"]
        # Runs already go in parallel (--jobs); one thread each keeps the 2 cores from thrashing.
        if "--threads=" in (self.command_help(transport) or ""):
            cmd.append("--threads=1")
        if transport == "run":
            cmd.append(f"--worker-processes={self.worker_processes}")
        p = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
        if p.returncode != 0:
            raise RunFailed(f"{' '.join(cmd)}\nexit {p.returncode}: {p.stderr.strip()[-2000:]}")
        return Result(out_dir, window, keep_metrics, stats)


class Result:
    """What the tables need from one run directory: summary.json plus statistics of metrics.csv."""

    def __init__(self, out_dir, window, keep_metrics, stats):
        self.dir = out_dir
        with open(os.path.join(out_dir, "summary.json")) as f:
            self.summary = json.load(f)
        metrics_path = os.path.join(out_dir, "metrics.csv")
        self.min_gns = self.band_gns = None
        if stats:
            gns = plots.load_metrics(metrics_path, max_round=window)["grad_norm_sq"]
            self.min_gns = float(min(gns))
            # Mean over the last 10% of rounds: a band, as normalized steps oscillate (SPEC §4).
            tail = gns[max(1, len(gns) - max(1, len(gns) // 10)):]
            self.band_gns = float(sum(tail) / len(tail))
        if not keep_metrics:
            os.remove(metrics_path)

    @property
    def gamma(self):
        return self.summary["gamma"]

    @property
    def eta(self):
        return self.summary.get("eta")

    @property
    def rounds_to_eps(self):
        return self.summary["first_round_below_eps"]

    @property
    def bits_to_eps(self):
        return self.summary["paper_bits_per_client_at_eps"]

    def metrics(self, max_round=None):
        return plots.load_metrics(os.path.join(self.dir, "metrics.csv"), max_round)


def parallel(ctx, tasks):
    """Runs callables on --jobs threads (each one starts ef21 processes); results in order."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=ctx.jobs) as pool:
        futures = [pool.submit(t) for t in tasks]
        return [f.result() for f in futures]


def median(xs):
    xs = sorted(xs)
    n = len(xs)
    return xs[n // 2] if n % 2 else 0.5 * (xs[n // 2 - 1] + xs[n // 2])


def spread(values, cap_note="reached"):
    """'median [min–max]' of the numbers, with how many were None (not reached)."""
    reached = [v for v in values if v is not None]
    missed = len(values) - len(reached)
    if not reached:
        return f"none of {len(values)} {cap_note}".strip()
    text = f"{plots.fmt(median(reached))} [{plots.fmt(min(reached))}–{plots.fmt(max(reached))}]"
    if missed:
        text += f", {missed} of {len(values)} not reached"
    return text


def write_table(exp_dir, header, rows, csv_rows=None):
    """table.md (markdown) and table.csv (the same cells, or csv_rows when given)."""
    md = plots.markdown_table(header, rows)
    with open(os.path.join(exp_dir, "table.md"), "w") as f:
        f.write(md)
    with open(os.path.join(exp_dir, "table.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(csv_rows if csv_rows is not None else rows)
    return md


# ----------------------------------------------------------------------------------------------
# Figure 1: polynomial.

POLY = ["--problem=polynomial", "--dim=4", "--L0=4", "--compressor=top-k", "--k=1"]


def fig1(ctx, exp_dir):
    K_of = {1: 2000, 4: 5000, 8: 16000}
    seeds = range(5)
    # EF21 and ||EF21|| with 1/(2c1) use constant steps that do not depend on K, so they run
    # beyond the figure's K to find their rounds to eps; the plot and min stop at K.
    cap = 100000
    if ctx.tiny:
        K_of, seeds, cap = {1: 2000, 4: 300, 8: 400}, range(2), 3000
    methods = [
        ("EF21", ["--algorithm=ef21", "--stepsize=theory"], True),
        (f"{NORM}, γ = 1/(2c₁)", ["--algorithm=norm-ef21", "--stepsize=theory-l1"], True),
        (f"{NORM}, γ = γ₀/√(K+1), γ₀=1", ["--algorithm=norm-ef21", "--stepsize=theory",
                                          "--gamma0=1"], False),
    ]
    jobs = []
    for L1, K in K_of.items():
        for mi, (label, flags, to_cap) in enumerate(methods):
            for seed in seeds:
                rounds = cap if to_cap else K
                run_dir = os.path.join(exp_dir, "runs", f"L1_{L1}", f"m{mi}", f"seed{seed}")
                f = POLY + [f"--L1={L1}", f"--rounds={rounds}", f"--seed={seed}"] + flags
                jobs.append(((L1, mi, seed), lambda f=f, d=run_dir, K=K, s=seed: ctx.run(
                    f, d, window=K, keep_metrics=(s == 0))))
    results = dict(zip([k for k, _ in jobs], parallel(ctx, [j for _, j in jobs])))

    panels, rows = [], []
    for L1, K in K_of.items():
        series = []
        for mi, (label, _, to_cap) in enumerate(methods):
            r0 = results[(L1, mi, 0)]
            series.append({"label": label, "metrics": r0.metrics(max_round=K)})
            reach = r0.rounds_to_eps
            reach_text = plots.fmt(reach)
            if reach is not None and reach > K:
                reach_text += f" (> K; run to {r0.summary['rounds']})"
            elif reach is None and to_cap:
                reach_text = f"not within {r0.summary['rounds']}"
            elif reach is None:
                reach_text = f"not within K={K}"
            rows.append([f"{L1:g}", str(K), label, plots.fmt(r0.gamma), reach_text,
                         plots.fmt(r0.bits_to_eps), plots.fmt(r0.min_gns),
                         plots.fmt(r0.band_gns),
                         spread([results[(L1, mi, s)].rounds_to_eps for s in seeds])])
        panels.append({"title": f"L1 = {L1}, K = {K}", "series": series})
    plots.curves_figure(os.path.join(exp_dir, "fig1.png"), panels, eps=EPS,
                        title="Polynomial, d=4, top-1, L0=4 (Figure 1)")
    header = ["L1", "K", "method", "γ", "rounds to ε (seed 0)", "bits/client to ε",
              "min ‖∇f‖², t ≤ K", "mean ‖∇f‖², last 10% of t ≤ K",
              f"rounds to ε, seeds 0–{len(seeds) - 1}: median [range]"]
    return write_table(exp_dir, header, rows), ["fig1.png"]


# ----------------------------------------------------------------------------------------------
# Figure 4: smallest K on a grid.

def fig4(ctx, exp_dir):
    L1s, gamma0s, seeds = (1, 4, 8), (0.1, 1, 10), range(5)
    # (step, cap) per gamma0: the paper's steps; caps keep the full reproduction within minutes.
    grid = {0.1: (5000, 250000), 1: (500, 50000), 10: (500, 50000)}
    if ctx.tiny:
        L1s, seeds = (1, 8), range(1)
        grid = {0.1: (5000, 10000), 1: (500, 3000), 10: (500, 3000)}

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
        for K in (m * grid[g0][1] for m in (2, 4, 8, 16)):
            if reaches(L1, g0, 0, K) is not None:
                return f"K = {K} reaches"
        return f"none up to K = {16 * grid[g0][1]}"

    keys = [(L1, g0, s) for L1 in L1s for g0 in gamma0s for s in seeds]
    found = dict(zip(keys, parallel(ctx, [lambda k=k: scan(*k) for k in keys])))
    missed = [(L1, g0) for L1 in L1s for g0 in gamma0s if found[(L1, g0, 0)][0] is None]
    probed = dict(zip(missed, parallel(ctx, [lambda m=m: probe(*m) for m in missed])))

    rows, csv_rows = [], []
    for L1 in L1s:
        for g0 in gamma0s:
            step, cap = grid[g0]
            Ks = [found[(L1, g0, s)][0] for s in seeds]
            firsts = [found[(L1, g0, s)][1] for s in seeds]
            rows.append([f"{L1:g}", f"{g0:g}", f"{step} / {cap}",
                         ", ".join(plots.fmt(k) if k else f">{cap}" for k in Ks),
                         spread(Ks, "reached within the cap"),
                         ", ".join(plots.fmt(t) for t in firsts), probed.get((L1, g0), "")])
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


# ----------------------------------------------------------------------------------------------
# Figure 2: logistic regression, one row per client.

def logreg_datasets(ctx):
    """(name, flags, d, K of ||EF21|| in the paper)."""
    data = os.path.join(REPO, "data", "libsvm")
    sets = [("synthetic 20×10", ["--synthetic=20x10"], 10, 100),
            ("breast-cancer", [f"--data={data}/breast-cancer_scale"], 10, 100),
            ("a1a", [f"--data={data}/a1a", "--features=123"], 123, 400)]
    if ctx.tiny:
        sets = [(n, f, d, 10) for n, f, d, _ in sets]
    return sets


def k_choices(d):
    """The k of Figure 2: 1 (the EF21 code's default), 5 and 10% of d; labels name coincidences."""
    ten = max(1, round(0.1 * d))
    return [("k1", 1, "k = 1" + (" (= 10% of d)" if ten == 1 else "")),
            ("k5", 5, "k = 5"),
            ("k10pct", ten, f"k = {ten} (10% of d)" + (" (= k = 1)" if ten == 1 else ""))]


FIG2_METHODS = [("EF21", ["--algorithm=ef21", "--stepsize=theory"]),
                (NORM, ["--algorithm=norm-ef21", "--stepsize=theory", "--gamma0=1"])]


def fig2_runs(ctx, exp_dir, seeds, transport=None):
    """Runs every (data set, k, method, seed) of Figure 2 once; {key: Result}."""
    keys, tasks = [], []
    for name, dflags, d, K in logreg_datasets(ctx):
        for k in sorted({k for _, k, _ in k_choices(d)}):
            for mname, mflags in FIG2_METHODS:
                for seed in seeds:
                    f = (["--problem=logreg", "--split=row", "--compressor=top-k", f"--k={k}",
                          f"--rounds={K}", f"--seed={seed}"] + dflags + mflags)
                    slug = f"{name.split()[0]}_k{k}_{mflags[0].split('=')[1]}_seed{seed}"
                    run_dir = os.path.join(exp_dir, "runs", slug)
                    keys.append((name, k, mname, seed))
                    tasks.append(lambda f=f, r=run_dir: ctx.run(f, r, transport=transport))
    return dict(zip(keys, parallel(ctx, tasks)))


def fig2_figures(ctx, exp_dir, results, seed=0):
    """fig2_<k choice>.png for seed 0: the data sets side by side."""
    pngs = []
    for choice in ("k1", "k5", "k10pct"):
        panels = []
        for name, _, d, K in logreg_datasets(ctx):
            _, k, label = next(c for c in k_choices(d) if c[0] == choice)
            panels.append({"title": f"{name}, {label}, K = {K}", "series": [
                {"label": m, "metrics": results[(name, k, m, seed)].metrics()}
                for m, _ in FIG2_METHODS]})
        png = f"fig2_{choice}.png"
        k_text = {"k1": "k = 1", "k5": "k = 5", "k10pct": "k = 10% of d"}[choice]
        plots.curves_figure(os.path.join(exp_dir, png), panels, eps=EPS,
                            title=f"Logistic regression, one row per client, top-k with {k_text} "
                                  "(Figure 2)")
        pngs.append(png)
    return pngs


def fig2(ctx, exp_dir):
    seeds = range(2) if ctx.tiny else range(5)
    results = fig2_runs(ctx, exp_dir, seeds)
    rows = []
    for name, _, d, K in logreg_datasets(ctx):
        for k in sorted({k for _, k, _ in k_choices(d)}):
            ef, nm = ([results[(name, k, m, s)] for s in seeds] for m, _ in FIG2_METHODS)
            wins = sum(n.min_gns < e.min_gns for n, e in zip(nm, ef))
            for mname, rs in (("EF21", ef), (NORM, nm)):
                r0 = rs[0]
                rows.append([name, f"{k} (α = {k / d:.3g})", str(K), mname, plots.fmt(r0.gamma),
                             plots.fmt(r0.rounds_to_eps) if r0.rounds_to_eps is not None
                             else "not within K", plots.fmt(r0.bits_to_eps),
                             plots.fmt(r0.min_gns), plots.fmt(r0.summary["final_grad_norm"] ** 2),
                             plots.fmt(r0.summary["final_loss"]),
                             spread([r.min_gns for r in rs]),
                             f"{wins}/{len(rs)}" if mname == NORM else ""])
    pngs = fig2_figures(ctx, exp_dir, results)
    header = ["data set", "k", "K", "method", "γ (seed 0)", "rounds to ε", "bits/client to ε",
              "min ‖∇f‖² (seed 0)", "final ‖∇f‖² (seed 0)", "final loss (seed 0)",
              f"min ‖∇f‖², seeds 0–{len(seeds) - 1}: median [range]",
              f"{NORM} smaller min ‖∇f‖²"]
    return write_table(exp_dir, header, rows), pngs


# ----------------------------------------------------------------------------------------------
# Figure 2 through the federation: `ef21 run` must give the same metrics as `ef21 simulate`.

def fig2_federation(ctx, exp_dir):
    if not ctx.has_command("run"):
        raise RunFailed(f"{ctx.binary} has no `run` command: the federation check needs it")
    results = {}
    for transport in ("simulate", "run"):
        tdir = os.path.join(exp_dir, transport)
        results[transport] = fig2_runs(ctx, tdir, [0], transport=transport)
        fig2_figures(ctx, tdir, results[transport])
    rows, identical = [], True
    for key, sim in results["simulate"].items():
        fed = results["run"][key]
        a, b = (metrics_columns_1_to_9(os.path.join(r.dir, "metrics.csv")) for r in (sim, fed))
        same = a == b
        identical &= same
        detail = "identical" if same else first_difference(a, b)
        name, k, mname, _ = key
        rows.append([name, str(k), mname, str(len(a) - 1), sha(a)[:12], detail])
    png_rows = []
    for choice in ("k1", "k5", "k10pct"):
        png = f"fig2_{choice}.png"
        hs = [file_sha(os.path.join(exp_dir, t, png)) for t in ("simulate", "run")]
        identical &= hs[0] == hs[1]
        png_rows.append([png, hs[0][:12], hs[1][:12], "identical" if hs[0] == hs[1] else "DIFFERENT"])
    md = plots.markdown_table(
        ["data set", "k", "method", "rounds", "sha256 of columns 1–9", "simulate vs run"], rows)
    md += "\n" + plots.markdown_table(
        ["figure", "sha256 (simulate)", "sha256 (run)", "verdict"], png_rows)
    verdict = ("IDENTICAL: every metrics.csv (columns round..stepsize) and every figure of "
               "Figure 2 (seed 0) from `ef21 run` equals the one from `ef21 simulate` byte for "
               "byte." if identical else
               "DIFFERENT: `ef21 run` and `ef21 simulate` disagree (see the table).")
    md = (f"`ef21 run --worker-processes={ctx.worker_processes}` (gRPC on loopback) against "
          f"`ef21 simulate`; the figures are simulate/fig2_*.png and run/fig2_*.png.\n\n" + md +
          "\n" + verdict + "\n")
    with open(os.path.join(exp_dir, "federation.md"), "w") as f:
        f.write(md)
    write_table(exp_dir, ["data set", "k", "method", "rounds", "sha256 of columns 1–9",
                          "simulate vs run"], rows)
    if not identical:
        raise RunFailed("fig2-federation: " + verdict)
    return md, []  # the figures equal fig2's byte for byte (else the check failed): no copies


def metrics_columns_1_to_9(path):
    """The lines of metrics.csv without the last column (wall_seconds differs by nature)."""
    with open(path, "rb") as f:
        return [line.rstrip(b"\r\n").rsplit(b",", 1)[0] for line in f]


def first_difference(a, b):
    if len(a) != len(b):
        return f"DIFFERENT: {len(a)} against {len(b)} lines"
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return f"DIFFERENT from line {i + 1}: {x.decode()} | {y.decode()}"
    return "identical"


def sha(lines):
    return hashlib.sha256(b"\n".join(lines)).hexdigest()


def file_sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


# ----------------------------------------------------------------------------------------------
# Beyond the paper: momentum with minibatches.

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

def sgdm(ctx, exp_dir):
    data = os.path.join(REPO, "data", "libsvm")
    # 10 clients of contiguous rows, 8 rows per minibatch (with replacement), top-k with k = 10%
    # of d: a setting where the gradients are really stochastic (one row per client would not be).
    sets = [("breast-cancer", [f"--data={data}/breast-cancer_scale"], 10),
            ("a1a", [f"--data={data}/a1a", "--features=123"], 123)]
    K, seeds, tune_seed = 1000, range(5), 100
    gammas = (0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1, 3)
    etas = (0.03, 0.1, 0.3, 1)
    if ctx.tiny:
        K, seeds, gammas, etas = 30, range(2), (0.01, 0.1), (0.1, 1)
    common = ["--problem=logreg", "--split=contiguous", "--clients=10", "--batch=8",
              "--compressor=top-k", f"--rounds={K}"]
    algos = [("EF21-SGDM", "ef21-sgdm"), ("||EF21-SGDM||", "norm-ef21-sgdm")]

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
    tuned = dict(zip(tune_keys, parallel(ctx, tasks)))
    best, tune_rows = {}, []
    for name, _, _ in sets:
        for label, _ in algos:
            cand = [(tuned[(name, label, g, e)], g, e) for g in gammas for e in etas]
            cand = [c for c in cand if math.isfinite(c[0])]
            if not cand:
                raise RunFailed(f"sgdm: every (γ, η) of the grid diverged for {label} on {name}")
            best[(name, label)] = min(cand)[1:]
            for g in gammas:
                tune_rows.append([name, label, plots.fmt(g)] + [
                    plots.fmt(tuned[(name, label, g, e)]) for e in etas])
    with open(os.path.join(exp_dir, "tuning.md"), "w") as f:
        f.write(f"Mean ‖∇f‖² over the last 10% of {K} rounds, tuning seed {tune_seed}, "
                f"per (γ, η); the smallest is chosen.\n\n")
        f.write(plots.markdown_table(["data set", "method", "γ \\ η"] +
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
    results = dict(zip(keys, parallel(ctx, tasks)))

    panels, rows = [], []
    for name, _, d in sets:
        series = []
        for mlabel, _, _ in methods:
            rs = [results[(name, mlabel, s)] for s in seeds]
            series.append({"label": mlabel, "metrics": [r.metrics() for r in rs]})
            reached = [r.rounds_to_eps for r in rs]
            rows.append([name, str(max(1, round(0.1 * d))), mlabel, plots.fmt(rs[0].gamma),
                         plots.fmt(rs[0].eta), spread([r.band_gns for r in rs]),
                         spread([r.min_gns for r in rs]), spread(reached, "reached")])
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


# ----------------------------------------------------------------------------------------------

EXPERIMENTS = {
    "fig1": ("Figure 1: nonconvex polynomial", fig1),
    "fig4": ("Figure 4: smallest K reaching ε on a grid", fig4),
    "fig2": ("Figure 2: logistic regression, one row per client", fig2),
    "sgdm": ("Beyond the paper: ||EF21-SGDM|| against EF21-SGDM", sgdm),
    "fig2-federation": ("Figure 2 through the federation (`ef21 run`) against `ef21 simulate`",
                        fig2_federation),
}


def main(argv):
    parser = argparse.ArgumentParser(
        description="Reproduces the paper's figures with the ef21 binary (see the docstring).")
    parser.add_argument("--out", default=os.path.join(REPO, "runs", "experiments"))
    parser.add_argument("--binary", default=os.path.join(REPO, "build", "bin", "ef21"))
    parser.add_argument("--only", action="append", default=[],
                        help="experiment(s) to run, comma-separated or repeated: "
                             + ", ".join(EXPERIMENTS))
    parser.add_argument("--tiny", action="store_true", help="seconds-long versions (tests)")
    parser.add_argument("--jobs", type=int, default=2, help="runs in parallel (default 2)")
    parser.add_argument("--transport", choices=("simulate", "run"), default="simulate",
                        help="ef21 command of every run (fig2-federation uses both)")
    parser.add_argument("--worker-processes", type=int, default=2,
                        help="--worker-processes of `ef21 run` (default 2)")
    parser.add_argument("--copy-figures", metavar="DIR",
                        help="also copy every PNG into DIR (docs/figures)")
    args = parser.parse_args(argv)
    names = [n for o in args.only for n in o.split(",") if n] or list(EXPERIMENTS)
    unknown = [n for n in names if n not in EXPERIMENTS]
    if unknown:
        parser.error(f"unknown experiment(s) {unknown}; expected some of {list(EXPERIMENTS)}")
    if not os.access(args.binary, os.X_OK):
        parser.error(f"no executable ef21 binary at {args.binary} (build it: scripts/build.sh)")
    ctx = Context(args)
    if args.transport == "run" and not ctx.has_command("run"):
        parser.error(f"--transport=run, but {ctx.binary} has no `run` command")

    os.makedirs(ctx.out, exist_ok=True)
    report = [f"# ef21 experiments\n\nbinary `{ctx.binary}`, transport `{ctx.transport}`, "
              f"jobs {ctx.jobs}{', TINY configurations' if ctx.tiny else ''}.\n"]
    failed = False
    start_all = time.monotonic()
    for name in names:
        title, fn = EXPERIMENTS[name]
        exp_dir = os.path.join(ctx.out, name)
        if name == "fig2-federation" and not args.only and not ctx.has_command("run"):
            note = f"SKIP {name}: {ctx.binary} has no `run` command"
            print(note, flush=True)
            report.append(f"## {title}\n\n{note}\n")
            continue
        if os.path.exists(exp_dir):
            shutil.rmtree(exp_dir)
        os.makedirs(exp_dir)
        start = time.monotonic()
        try:
            md, pngs = fn(ctx, exp_dir)
        except RunFailed as e:
            failed = True
            print(f"FAILED {name}: {e}", file=sys.stderr, flush=True)
            report.append(f"## {title}\n\nFAILED: {e}\n")
            continue
        seconds = time.monotonic() - start
        print(f"{name}: {seconds:.1f} s -> {exp_dir}", flush=True)
        images = "".join(f"![{p}]({name}/{p})\n" for p in pngs)
        report.append(f"## {title}\n\n{seconds:.1f} s.\n\n{images}\n{md}")
        if args.copy_figures:
            os.makedirs(args.copy_figures, exist_ok=True)
            for p in pngs:
                shutil.copy(os.path.join(exp_dir, p), os.path.join(args.copy_figures, p))
    report.append(f"Total: {time.monotonic() - start_all:.1f} s.\n")
    with open(os.path.join(ctx.out, "report.md"), "w") as f:
        f.write("\n".join(report))
    print(f"report: {os.path.join(ctx.out, 'report.md')}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
