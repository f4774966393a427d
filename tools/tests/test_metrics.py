"""metrics.load_metrics on the run directory ef21 writes, including rounds without diagnostics."""

import math
import os
import subprocess

from ef21tools import metrics


def test_rounds_without_diagnostics_read_as_nan(ef21_binary, tmp_path):
    out = tmp_path / "run"
    data = os.path.join(os.path.dirname(metrics.__file__), "..", "..", "data", "libsvm",
                        "breast-cancer_scale")
    subprocess.run([ef21_binary, "simulate", f"--data={data}", "--rounds=5",
                    "--diagnostics-every=2", f"--out={out}"], check=True, capture_output=True)
    m = metrics.load_metrics(str(out / "metrics.csv"))
    assert list(m["round"]) == [0, 1, 2, 3, 4, 5]
    measured = [not math.isnan(v) for v in m["grad_norm_sq"]]
    assert measured == [True, False, True, False, True, True]
    assert all(not math.isnan(v) for v in m["loss"])
