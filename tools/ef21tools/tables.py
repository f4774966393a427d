"""Numbers and tables for reports: formatting, markdown tables, aligned text tables, table files.

Standard library only.
"""

import csv
import math
import os


def fmt(x, digits=3):
    """A number for a table: '—' for None, integers plain, floats with `digits` significant."""
    if x is None:
        return "—"
    if isinstance(x, int):
        return str(x)
    if isinstance(x, float) and (math.isnan(x) or math.isinf(x)):
        return str(x)
    return f"{x:.{digits}g}"


def markdown_table(header, rows):
    """A GitHub markdown table from a header list and rows of already formatted cells.

    A '|' inside a cell (the paper's ||EF21||) is escaped so that it does not split the cell.
    """
    def line(cells):
        return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"
    lines = [line(header), "|" + "|".join("---" for _ in header) + "|"]
    lines += [line(row) for row in rows]
    return "\n".join(lines) + "\n"


def text_table(header, rows):
    """Columns padded to their widest cell, two spaces apart, a dashed rule under the header."""
    widths = [max(len(r[i]) for r in [header] + rows) for i in range(len(header))]
    lines = []
    for r in [header, ["-" * w for w in widths]] + rows:
        lines.append("  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip())
    return "\n".join(lines) + "\n"


def write_table(exp_dir, header, rows, csv_rows=None):
    """table.md (markdown) and table.csv (the same cells, or csv_rows when given); returns the md."""
    md = markdown_table(header, rows)
    with open(os.path.join(exp_dir, "table.md"), "w") as f:
        f.write(md)
    with open(os.path.join(exp_dir, "table.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(csv_rows if csv_rows is not None else rows)
    return md
