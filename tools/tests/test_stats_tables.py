"""ef21tools.stats and ef21tools.tables on inputs with known answers."""

import csv
import math

import pytest

from ef21tools import stats, tables


@pytest.mark.parametrize("xs,want", [([3], 3), ([5, 1, 3], 3), ([4, 1, 3, 2], 2.5),
                                     ([2, 2, 9, 9], 5.5), ([-1.5, 0.5], -0.5)])
def test_median(xs, want):
    assert stats.median(xs) == want


def test_median_of_nothing_is_an_error():
    with pytest.raises(ValueError):
        stats.median([])


def test_spread():
    assert stats.spread([3, 1, 2]) == "2 [1–3]"
    assert stats.spread([1000, None, 3000]) == "2e+03 [1000–3000], 1 of 3 not reached"
    assert stats.spread([0.5, 0.25]) == "0.375 [0.25–0.5]"
    assert stats.spread([None, None], "reached within the cap") == \
        "none of 2 reached within the cap"


def test_band_mean_is_the_mean_of_the_last_tenth():
    values = [100.0] * 90 + [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0]
    assert stats.band_mean(values) == 5.5
    # 11 values (rounds 0..10): the last one; 5 values: the last one; 2 values: not round 0.
    assert stats.band_mean(list(range(11))) == 10.0
    assert stats.band_mean([9.0, 8.0, 7.0, 6.0, 5.0]) == 5.0
    assert stats.band_mean([9.0, 4.0]) == 4.0
    assert stats.band_mean([9.0]) == 9.0


@pytest.mark.parametrize("x,digits,want", [(None, 3, "—"), (12345, 3, "12345"),
                                           (12345.0, 3, "1.23e+04"), (0.000123456, 3, "0.000123"),
                                           (0.313031, 6, "0.313031"), (math.inf, 3, "inf"),
                                           (math.nan, 3, "nan"), (1.0, 3, "1")])
def test_fmt(x, digits, want):
    assert tables.fmt(x, digits) == want


def test_markdown_table_escapes_the_paper_bars():
    md = tables.markdown_table(["method", "γ"], [["||EF21||", "0.0995"], ["EF21", "0.0262"]])
    assert md == ("| method | γ |\n|---|---|\n| \\|\\|EF21\\|\\| | 0.0995 |\n"
                  "| EF21 | 0.0262 |\n")


def test_text_table_aligns_columns():
    text = tables.text_table(["method", "seconds"], [["EF21", "0.122"], ["||EF21||", "1"]])
    assert text.splitlines() == ["method    seconds", "--------  -------",
                                 "EF21      0.122", "||EF21||  1"]


def test_write_table(tmp_path):
    md = tables.write_table(str(tmp_path), ["a", "b"], [["1", "x|y"]], csv_rows=[[1, "raw"]])
    assert (tmp_path / "table.md").read_text() == md
    with open(tmp_path / "table.csv", newline="") as f:
        assert list(csv.reader(f)) == [["a", "b"], ["1", "raw"]]
