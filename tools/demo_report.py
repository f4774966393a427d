#!/usr/bin/python3
"""Summary table and plot of finished runs, for scripts/demo.sh.

usage: demo_report.py --plot OUT.png --title TITLE LABEL=RUN_DIR [LABEL=RUN_DIR ...]

Prints, per run: rounds to ||grad f||^2 < eps, paper bits per client spent by then, min ||grad f||,
final loss and total paper bits per client, read from each run's summary.json; draws
||grad f(x^t)||^2 against rounds and bits per client from each metrics.csv.
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import plots  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--plot", required=True, help="PNG to write")
    parser.add_argument("--title", default="")
    parser.add_argument("runs", nargs="+", metavar="LABEL=RUN_DIR")
    args = parser.parse_args()

    rows, series, eps = [], [], None
    for spec in args.runs:
        label, sep, run_dir = spec.partition("=")
        if not sep:
            parser.error(f"expected LABEL=RUN_DIR, got {spec!r}")
        with open(os.path.join(run_dir, "summary.json")) as f:
            s = json.load(f)
        eps = s["eps"]
        reached = s["first_round_below_eps"]
        rows.append([
            label,
            str(reached) if reached is not None else f"> {s['rounds']}",
            plots.fmt(s["paper_bits_per_client_at_eps"]) if reached is not None else "-",
            plots.fmt(s["min_grad_norm"]),
            plots.fmt(s["final_loss"], 6),
            plots.fmt(s["paper_bits_per_client"]),
            plots.fmt(s["wall_seconds"]),
        ])
        series.append({"label": label,
                       "metrics": plots.load_metrics(os.path.join(run_dir, "metrics.csv"))})

    header = ["method", f"rounds to |grad f|^2<{eps:g}", "bits/client then", "min |grad f|",
              "final loss", "bits/client total", "seconds"]
    widths = [max(len(r[i]) for r in [header] + rows) for i in range(len(header))]
    for r in [header, ["-" * w for w in widths]] + rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip())
    plots.curves_figure(args.plot, [{"title": args.title, "series": series}], eps=eps)
    print(f"\nplot: {args.plot}")


if __name__ == "__main__":
    main()
