"""The figure modules, the driver's usage errors, metrics.csv loading and the plots."""

import hashlib
import os
import subprocess
import sys

import pytest

from ef21tools import metrics, plots
from ef21tools.figures import EXPERIMENTS, fig1, fig2, fig4, sgdm
from ef21tools.runner import Context

from conftest import TOOLS


def test_the_driver_knows_every_figure_in_its_order():
    assert list(EXPERIMENTS) == ["fig1", "fig4", "fig2", "sgdm", "fig2-federation", "fig3"]
    for name, module in EXPERIMENTS.items():
        assert module.NAME == name and module.TITLE and callable(module.run)
        assert set(module.GRIDS) == {"full", "tiny"}
        assert set(module.GRIDS["full"]) == set(module.GRIDS["tiny"]), name


def count_runs(module, size):
    g = module.GRIDS[size]
    if module is fig1:
        return len(g["K_of_L1"]) * len(fig1.METHODS) * g["seeds"]
    if module is fig4:  # first grid point of every scan: the least it runs
        return len(g["L1s"]) * len(g["gamma0s"]) * g["seeds"]
    if module is fig2:
        ks = sum(len({k for _, k, _ in fig2.k_choices(d)}) for _, _, d in fig2.DATASETS)
        return ks * len(fig2.METHODS) * g["seeds"]
    if module is sgdm:
        return len(sgdm.DATASETS) * len(sgdm.ALGOS) * len(g["gammas"]) * len(g["etas"])


@pytest.mark.parametrize("module", [fig1, fig4, fig2, sgdm], ids=lambda m: m.NAME)
def test_tiny_grids_are_smaller_than_full_ones(module):
    assert count_runs(module, "tiny") < count_runs(module, "full")


def test_full_grids_are_the_papers():
    assert fig1.GRIDS["full"]["K_of_L1"] == {1: 2000, 4: 5000, 8: 16000}
    assert fig4.GRIDS["full"]["gamma0s"] == (0.1, 1, 10)
    assert {g: step for g, (step, _) in fig4.GRIDS["full"]["grid"].items()} == \
        {0.1: 5000, 1: 500, 10: 500}
    assert fig2.GRIDS["full"]["K"] == {"synthetic 20×10": 100, "breast-cancer": 100, "a1a": 400}


def test_k_choices_name_coincidences():
    assert fig2.k_choices(10) == [("k1", 1, "k = 1 (= 10% of d)"), ("k5", 5, "k = 5"),
                                  ("k10pct", 1, "k = 1 (10% of d) (= k = 1)")]
    assert [k for _, k, _ in fig2.k_choices(123)] == [1, 5, 12]


def test_context_picks_the_grid(tmp_path):
    grids = {"full": {"K": 100}, "tiny": {"K": 10}}
    assert Context("ef21", str(tmp_path), tiny=True).grid(grids) == {"K": 10}
    assert Context("ef21", str(tmp_path)).grid(grids) == {"K": 100}


def driver(*args):
    return subprocess.run([sys.executable, os.path.join(TOOLS, "experiments.py"), *args],
                          capture_output=True, text=True)


def test_driver_refuses_unknown_experiments_and_missing_binaries(tmp_path):
    p = driver("--only=fig9", f"--binary={sys.executable}", f"--out={tmp_path}")
    assert p.returncode == 2 and "unknown experiment(s) ['fig9']" in p.stderr
    p = driver(f"--binary={tmp_path}/none", f"--out={tmp_path}")
    assert p.returncode == 2 and "no executable ef21 binary" in p.stderr


def write_metrics(path, rows):
    with open(path, "w") as f:
        f.write(",".join(metrics.METRICS_COLUMNS) + "\n")
        for t in range(rows):
            f.write(f"{t},{32 * t},{40 * t},{90 * t},{1 / (t + 1)!r},0.5,{0.25 / (t + 1)!r},"
                    f"0.4,0.1,0.00{t}\n")


def test_load_metrics(tmp_path):
    write_metrics(tmp_path / "metrics.csv", 6)
    m = metrics.load_metrics(str(tmp_path / "metrics.csv"))
    assert list(m["round"]) == [0, 1, 2, 3, 4, 5]
    assert m["grad_norm_sq"][3] == 0.0625 and m["paper_bits_per_client"][5] == 160
    assert len(metrics.load_metrics(str(tmp_path / "metrics.csv"), max_round=2)["loss"]) == 3


def test_load_metrics_refuses_another_file(tmp_path):
    (tmp_path / "x.csv").write_text("round,loss\n0,1\n")
    with pytest.raises(ValueError, match="x.csv: header"):
        metrics.load_metrics(str(tmp_path / "x.csv"))


def test_a_figure_is_a_png_and_the_same_input_gives_the_same_bytes(tmp_path):
    """fig2-federation compares figures by sha256: drawing must be deterministic."""
    write_metrics(tmp_path / "metrics.csv", 50)
    m = metrics.load_metrics(str(tmp_path / "metrics.csv"))
    shas = []
    for name in ("a.png", "b.png"):
        plots.curves_figure(str(tmp_path / name), [{"title": "t", "series": [
            {"label": "EF21", "metrics": m}]}], eps=1e-4)
        data = (tmp_path / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10000
        shas.append(hashlib.sha256(data).hexdigest())
    assert shas[0] == shas[1]
