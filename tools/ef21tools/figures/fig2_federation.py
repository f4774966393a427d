"""Figure 2 through the federation: `ef21 run` must give the same metrics as `ef21 simulate`.

Every Figure 2 configuration (seed 0) runs once with each command; their metrics.csv must agree
cell for cell (ef21tools.compare: every column but the timings), and the figures drawn from them
byte for byte.
"""

import hashlib
import os

from .. import compare
from ..runner import RunFailed
from ..tables import markdown_table, write_table
from . import fig2

NAME = "fig2-federation"
TITLE = "Figure 2 through the federation (`ef21 run`) against `ef21 simulate`"
# Seeds of Figure 2 compared (the grid is fig2's).
GRIDS = {"full": {"seeds": 1}, "tiny": {"seeds": 1}}


def file_sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def compared_sha(path):
    """sha256 of the compared cells of a metrics.csv (what must be equal)."""
    rows = compare.read_rows(path)
    cols = compare.selected_columns(rows[0])
    text = "\n".join(",".join(r[i] for i in cols) for r in rows)
    return hashlib.sha256(text.encode()).hexdigest()


def run(ctx, exp_dir):
    if not ctx.has_command("run"):
        raise RunFailed(f"{ctx.binary} has no `run` command: the federation check needs it")
    seeds = range(ctx.grid(GRIDS)["seeds"])
    results = {}
    for transport in ("simulate", "run"):
        tdir = os.path.join(exp_dir, transport)
        results[transport] = fig2.runs(ctx, tdir, seeds, transport=transport)
        fig2.figures(ctx, tdir, results[transport])
    rows, identical = [], True
    for key, sim in results["simulate"].items():
        fed = results["run"][key]
        a, b = (os.path.join(r.dir, "metrics.csv") for r in (sim, fed))
        same = compare.compare_files(a, b)
        identical &= bool(same)
        name, k, mname, _ = key
        rows.append([name, str(k), mname, str(len(compare.read_rows(a)) - 1),
                     compared_sha(a)[:12], "identical" if same else same.text])
    png_rows = []
    for choice in fig2.K_CHOICES:
        png = f"fig2_{choice}.png"
        hs = [file_sha(os.path.join(exp_dir, t, png)) for t in ("simulate", "run")]
        identical &= hs[0] == hs[1]
        png_rows.append([png, hs[0][:12], hs[1][:12], "identical" if hs[0] == hs[1] else "DIFFERENT"])
    header = ["data set", "k", "method", "rounds", "sha256 of the compared columns",
              "simulate vs run"]
    md = markdown_table(header, rows)
    md += "\n" + markdown_table(["figure", "sha256 (simulate)", "sha256 (run)", "verdict"],
                                png_rows)
    verdict = ("IDENTICAL: every metrics.csv (every column but wall_seconds) and every figure of "
               "Figure 2 (seed 0) from `ef21 run` equals the one from `ef21 simulate` byte for "
               "byte." if identical else
               "DIFFERENT: `ef21 run` and `ef21 simulate` disagree (see the table).")
    md = (f"`ef21 run --worker-processes={ctx.worker_processes}` (gRPC on loopback) against "
          f"`ef21 simulate`; the figures are simulate/fig2_*.png and run/fig2_*.png.\n\n" + md +
          "\n" + verdict + "\n")
    with open(os.path.join(exp_dir, "federation.md"), "w") as f:
        f.write(md)
    write_table(exp_dir, header, rows)
    if not identical:
        raise RunFailed("fig2-federation: " + verdict)
    return md, []  # the figures equal fig2's byte for byte (else the check failed): no copies
