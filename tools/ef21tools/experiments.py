"""Reproduces the paper's figures with the ef21 binary: one named experiment per figure.

    /usr/bin/python3 tools/experiments.py [--out runs/experiments] [--only fig1,fig2 ...]
        [--binary build/bin/ef21] [--jobs 2] [--tiny] [--transport simulate|run]
        [--worker-processes 2] [--copy-figures docs/figures]

Experiments (SPEC sections 5 and 7; docs/RESULTS.md shows and discusses the results; each is a
module of ef21tools/figures/ with its full and --tiny grids as data):

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
                   loopback): metrics.csv must be identical cell for cell (every column but
                   wall_seconds: ef21tools.compare), and so must the figures drawn from
                   them. Skipped (with a note) when the binary has no `run` command, unless
                   asked for by --only.
  fig3             a neural network (Section 6.2): ResNet-20 on Fashion-MNIST (fed as 3x32x32),
                   5 clients, batch 128, ||EF21|| against EF21 with gamma = 5 and with a tuned
                   gamma, k = 0.01d and 0.1d; ||grad f||^2, training loss, train and test
                   accuracy against Gbits per client (--tiny: the small CNN on 600 images).

Each experiment writes OUT/NAME/: runs/ (run directories), *.png, table.md, table.csv; OUT/report.md
collects every table with the time each experiment took. --tiny runs every code path in seconds
(small K, few seeds): the test tests/e2e/experiments_test.sh uses it. Exit status: 0 when every
experiment ran (and the federation check found the transports identical), 1 otherwise, 2 on usage
errors.

Only the Python standard library, numpy and matplotlib (Debian's, hence /usr/bin/python3).
"""

import argparse
import os
import shutil
import sys
import time

from .figures import EXPERIMENTS
from .runner import REPO, Context, RunFailed


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
    ctx = Context(args.binary, args.out, jobs=args.jobs, tiny=args.tiny,
                  transport=args.transport, worker_processes=args.worker_processes)
    if args.transport == "run" and not ctx.has_command("run"):
        parser.error(f"--transport=run, but {ctx.binary} has no `run` command")

    os.makedirs(ctx.out, exist_ok=True)
    report = [f"# ef21 experiments\n\nbinary `{ctx.binary}`, transport `{ctx.transport}`, "
              f"jobs {ctx.jobs}{', TINY configurations' if ctx.tiny else ''}.\n"]
    failed = False
    start_all = time.monotonic()
    for name in names:
        title, fn = EXPERIMENTS[name].TITLE, EXPERIMENTS[name].run
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
