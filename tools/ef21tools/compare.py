"""Compares the metrics.csv of two runs cell by cell, as text: the project's equality check.

`ef21 simulate` and `ef21 run` (and a run with crashed and restarted workers, or a cut
connection) must write the same metrics.csv except for timings. The cells are compared as the
text the binary wrote (shortest round-trip decimal), so one ulp of difference in any value is a
difference. By default every column is compared except timing columns (names ending in
`_seconds`: wall_seconds today); --columns selects columns by 1-based position instead.

    tools/compare_metrics.py A B [--columns 1-9] [--quiet]

A and B are metrics.csv files or run directories holding one. Prints one line ("identical: ..."
or "DIFFERENT: ...", naming the first differing line and column and both values). Exit status:
0 identical, 1 different, 2 unreadable input or bad usage. Standard library only.
"""

import argparse
import os
import sys

TIMING_SUFFIX = "_seconds"


class CompareError(Exception):
    """Bad input: unreadable file, malformed column list. The message says what and where."""


def parse_columns(spec):
    """'1-9' or '1,3,5-7' (1-based, inclusive) -> sorted 0-based indices."""
    indices = set()
    for part in spec.split(","):
        part = part.strip()
        lo, sep, hi = part.partition("-")
        try:
            first = int(lo)
            last = int(hi) if sep else first
        except ValueError:
            raise CompareError(f"--columns: expected N or N-M (1-based), got {part!r} in {spec!r}")
        if first < 1 or last < first:
            raise CompareError(f"--columns: expected 1 <= N <= M, got {part!r} in {spec!r}")
        indices.update(range(first - 1, last))
    return sorted(indices)


def metrics_path(path):
    """A run directory stands for its metrics.csv."""
    return os.path.join(path, "metrics.csv") if os.path.isdir(path) else path


def read_rows(path):
    """The lines of a metrics.csv split into cells (no quoting: ef21 writes plain numbers)."""
    path = metrics_path(path)
    try:
        with open(path, "rb") as f:
            lines = f.read().decode("utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise CompareError(f"cannot read {path}: {e}")
    if not lines:
        raise CompareError(f"{path}: empty file, expected a metrics.csv header line")
    return [line.split(",") for line in lines]


def selected_columns(header, columns=None):
    """0-based indices to compare: `columns`, or every column not named *_seconds."""
    if columns is not None:
        return list(columns)
    return [i for i, name in enumerate(header) if not name.endswith(TIMING_SUFFIX)]


class Comparison:
    """The outcome: identical or not, and a one-line description."""

    def __init__(self, identical, text, rows=0):
        self.identical = identical
        self.text = text
        self.rows = rows

    def __bool__(self):
        return self.identical

    def __str__(self):
        return self.text


def compare_rows(a, b, columns=None, names=("A", "B")):
    """Compares two tables (lists of rows of cells, header first) on the chosen columns."""
    cols = selected_columns(a[0], columns)
    widest = max(cols) if cols else -1
    name = lambda i: a[0][i] if i < len(a[0]) else f"#{i + 1}"  # noqa: E731
    left_out = [name(i) for i in range(len(a[0])) if i not in cols]
    label = (f"{len(cols)} columns {name(cols[0])}..{name(cols[-1])}" if cols else "no columns")
    if left_out:
        label += f" (not {', '.join(left_out)})"
    for table, name in ((a, names[0]), (b, names[1])):
        for n, row in enumerate(table):
            if len(row) <= widest:
                return Comparison(False, f"DIFFERENT: {name} line {n + 1} has {len(row)} columns, "
                                         f"the comparison needs {widest + 1}")
    for n, (ra, rb) in enumerate(zip(a, b)):
        for i in cols:
            if ra[i] != rb[i]:
                column = a[0][i] if n > 0 else f"column {i + 1}"
                where = "header" if n == 0 else f"line {n + 1} (round {ra[0]})"
                return Comparison(False, f"DIFFERENT at {where}, {column}: "
                                         f"{names[0]} {ra[i]!r}, {names[1]} {rb[i]!r}")
    if len(a) != len(b):
        return Comparison(False, f"DIFFERENT: {names[0]} has {len(a) - 1} rows, "
                                 f"{names[1]} {len(b) - 1} (the first "
                                 f"{min(len(a), len(b)) - 1} agree)")
    return Comparison(True, f"identical: {len(a) - 1} rows, {label}", rows=len(a) - 1)


def compare_files(path_a, path_b, columns=None):
    """Compares two metrics.csv files (or run directories); raises CompareError on bad input."""
    return compare_rows(read_rows(path_a), read_rows(path_b), columns,
                        names=(metrics_path(path_a), metrics_path(path_b)))


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="compare_metrics.py",
        description="Compares two runs' metrics.csv cell by cell as text (timing columns "
                    "*_seconds excluded unless --columns is given). Exit 0 identical, "
                    "1 different, 2 bad input.")
    parser.add_argument("a", help="metrics.csv or run directory")
    parser.add_argument("b", help="metrics.csv or run directory")
    parser.add_argument("--columns", help="1-based columns to compare, e.g. 1-9 or 1,5-7")
    parser.add_argument("--min-rows", type=int, default=0,
                        help="also fail when the runs have fewer data rows than this")
    parser.add_argument("--quiet", action="store_true", help="print nothing, exit status only")
    args = parser.parse_args(argv)
    try:
        columns = parse_columns(args.columns) if args.columns else None
        result = compare_files(args.a, args.b, columns)
    except CompareError as e:
        print(f"compare_metrics: {e}", file=sys.stderr)
        return 2
    if result and result.rows < args.min_rows:
        result = Comparison(False, f"DIFFERENT: only {result.rows} rows, expected at least "
                                   f"{args.min_rows} ({result.text})", result.rows)
    if not args.quiet:
        print(result.text)
    return 0 if result else 1


if __name__ == "__main__":
    sys.exit(main())
