"""ef21tools.compare and tools/compare_metrics.py: the equality check of metrics.csv files."""

import math
import os
import subprocess
import sys

import pytest

from ef21tools import compare

from conftest import TOOLS

HEADER = ("round,paper_bits_per_client,uplink_bytes_per_client,downlink_bytes_per_client,loss,"
          "grad_norm,grad_norm_sq,g_norm,stepsize,wall_seconds")


def metrics_csv(path, rows=5, wall=0.001, loss_of=lambda t: 0.7 / (t + 1)):
    """A metrics.csv as ef21 writes it: shortest round-trip decimals (repr)."""
    lines = [HEADER]
    for t in range(rows):
        loss = loss_of(t)
        lines.append(",".join([str(t), str(32 * t), str(40 * t), str(90 * t), repr(loss),
                               repr(math.sqrt(loss)), repr(loss), repr(loss / 3), "0.0995",
                               repr(wall * t)]))
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return str(path)


def one_ulp_up(path, line, column):
    """Rewrites one cell of a metrics.csv with the next larger double."""
    with open(path) as f:
        lines = f.read().splitlines()
    cells = lines[line].split(",")
    old = cells[column]
    cells[column] = repr(math.nextafter(float(old), math.inf))
    assert cells[column] != old
    lines[line] = ",".join(cells)
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return old, cells[column]


def test_same_values_other_wall_time_are_identical(tmp_path):
    a = metrics_csv(tmp_path / "a.csv", wall=0.001)
    b = metrics_csv(tmp_path / "b.csv", wall=0.25)
    result = compare.compare_files(a, b)
    assert result.identical, result.text
    assert result.rows == 5
    assert result.text == ("identical: 5 rows, 9 columns round..stepsize (not wall_seconds)")


def test_one_ulp_in_the_loss_column_is_a_difference(tmp_path):
    a = metrics_csv(tmp_path / "a.csv")
    b = metrics_csv(tmp_path / "b.csv")
    old, new = one_ulp_up(b, 3, 4)
    result = compare.compare_files(a, b)
    assert not result.identical
    assert "line 4 (round 2), loss" in result.text
    assert repr(old) in result.text and repr(new) in result.text


@pytest.mark.parametrize("column", range(1, 9))
def test_one_ulp_in_any_compared_column_is_a_difference(tmp_path, column):
    a = metrics_csv(tmp_path / "a.csv", loss_of=lambda t: 1.0 + t / 7)
    b = metrics_csv(tmp_path / "b.csv", loss_of=lambda t: 1.0 + t / 7)
    one_ulp_up(b, 2, column)
    assert not compare.compare_files(a, b).identical


def test_columns_1_to_9_ignore_the_timing_column_by_position(tmp_path):
    a = metrics_csv(tmp_path / "a.csv", wall=0.001)
    b = metrics_csv(tmp_path / "b.csv", wall=0.002)
    assert compare.compare_files(a, b, compare.parse_columns("1-9")).identical
    assert not compare.compare_files(a, b, compare.parse_columns("1-10")).identical


def test_a_missing_round_is_a_difference(tmp_path):
    a = metrics_csv(tmp_path / "a.csv", rows=5)
    b = metrics_csv(tmp_path / "b.csv", rows=4)
    result = compare.compare_files(a, b)
    assert not result.identical
    assert "a.csv has 5 rows" in result.text and "b.csv 4 (the first 4 agree)" in result.text


def test_a_renamed_column_is_a_difference(tmp_path):
    a = metrics_csv(tmp_path / "a.csv")
    b = tmp_path / "b.csv"
    b.write_text(open(a).read().replace("grad_norm_sq", "grad_sq", 1))
    result = compare.compare_files(a, str(b))
    assert not result.identical and "header" in result.text


def test_a_run_directory_stands_for_its_metrics_csv(tmp_path):
    for run in ("sim", "run"):
        os.makedirs(tmp_path / run)
        metrics_csv(tmp_path / run / "metrics.csv")
    assert compare.compare_files(str(tmp_path / "sim"), str(tmp_path / "run")).identical


@pytest.mark.parametrize("spec,want", [("1-9", list(range(9))), ("1,3,5-6", [0, 2, 4, 5]),
                                       ("2", [1]), ("3-3,1", [0, 2])])
def test_parse_columns(spec, want):
    assert compare.parse_columns(spec) == want


@pytest.mark.parametrize("spec", ["0", "9-1", "a", "1-", "", "1,,2", "-3"])
def test_parse_columns_refuses_bad_lists(spec):
    with pytest.raises(compare.CompareError, match="--columns"):
        compare.parse_columns(spec)


def test_unreadable_file_is_an_error_naming_it(tmp_path):
    a = metrics_csv(tmp_path / "a.csv")
    with pytest.raises(compare.CompareError, match="missing.csv"):
        compare.compare_files(a, str(tmp_path / "missing.csv"))


def run_cli(*args):
    return subprocess.run([sys.executable, os.path.join(TOOLS, "compare_metrics.py"), *args],
                          capture_output=True, text=True)


def test_command_exit_status_0_1_2(tmp_path):
    a = metrics_csv(tmp_path / "a.csv")
    b = metrics_csv(tmp_path / "b.csv")
    same = run_cli(a, b)
    assert same.returncode == 0 and same.stdout.startswith("identical: 5 rows"), same
    one_ulp_up(b, 5, 6)
    diff = run_cli(a, b)
    assert diff.returncode == 1 and "grad_norm_sq" in diff.stdout, diff
    assert run_cli(a, b, "--quiet").stdout == ""
    bad = run_cli(a, str(tmp_path / "nope.csv"))
    assert bad.returncode == 2 and "nope.csv" in bad.stderr, bad
    assert run_cli(a, b, "--columns=x").returncode == 2


def test_min_rows(tmp_path):
    a = metrics_csv(tmp_path / "a.csv", rows=2)
    assert run_cli(a, a, "--min-rows=2").returncode == 0
    short = run_cli(a, a, "--min-rows=3")
    assert short.returncode == 1 and "only 2 rows" in short.stdout


def test_real_runs(tmp_path, ef21_binary):
    """Two simulate runs of one configuration agree; one ulp changed in one of them does not."""
    flags = ["simulate", "--problem=logreg", "--synthetic=20x10", "--split=row",
             "--algorithm=norm-ef21", "--rounds=12"]
    for name in ("a", "b"):
        subprocess.run([ef21_binary, *flags, f"--out={tmp_path / name}"], check=True,
                       capture_output=True)
    assert compare.compare_files(str(tmp_path / "a"), str(tmp_path / "b")).identical
    header = compare.read_rows(str(tmp_path / "a"))[0]
    one_ulp_up(str(tmp_path / "b" / "metrics.csv"), 7, header.index("g_norm"))
    result = compare.compare_files(str(tmp_path / "a"), str(tmp_path / "b"))
    assert not result.identical and "round 6), g_norm" in result.text
