"""Summary table and plot of finished runs, for scripts/demo.sh.

usage: demo_report.py --plot OUT.png --title TITLE LABEL=RUN_DIR [LABEL=RUN_DIR ...]

Prints, per run: rounds to ||grad f||^2 < eps, paper bits per client spent by then, min ||grad f||,
final loss and total paper bits per client, read from each run's summary.json; draws
||grad f(x^t)||^2 against rounds and bits per client from each metrics.csv.
"""

import argparse
import json
import os

from . import plots
from .metrics import load_metrics
from .tables import fmt, text_table


def summary_row(label, summary):
    """One table row from a run's summary.json."""
    reached = summary["first_round_below_eps"]
    return [
        label,
        str(reached) if reached is not None else f"> {summary['rounds']}",
        fmt(summary["paper_bits_per_client_at_eps"]) if reached is not None else "-",
        fmt(summary["min_grad_norm"]),
        fmt(summary["final_loss"], 6),
        fmt(summary["paper_bits_per_client"]),
        fmt(summary["wall_seconds"]),
    ]


def header(eps):
    return ["method", f"rounds to |grad f|^2<{eps:g}", "bits/client then", "min |grad f|",
            "final loss", "bits/client total", "seconds"]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--plot", required=True, help="PNG to write")
    parser.add_argument("--title", default="")
    parser.add_argument("runs", nargs="+", metavar="LABEL=RUN_DIR")
    args = parser.parse_args(argv)

    rows, series, eps = [], [], None
    for spec in args.runs:
        label, sep, run_dir = spec.partition("=")
        if not sep:
            parser.error(f"expected LABEL=RUN_DIR, got {spec!r}")
        with open(os.path.join(run_dir, "summary.json")) as f:
            s = json.load(f)
        eps = s["eps"]
        rows.append(summary_row(label, s))
        series.append({"label": label,
                       "metrics": load_metrics(os.path.join(run_dir, "metrics.csv"))})
    print(text_table(header(eps), rows), end="")
    plots.curves_figure(args.plot, [{"title": args.title, "series": series}], eps=eps)
    print(f"\nplot: {args.plot}")
    return 0
