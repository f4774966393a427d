"""Reading a run directory's metrics.csv (one row per round t = 0..K; row 0 is x^0) into numpy."""

import csv
import math

import numpy as np

# Columns of metrics.csv that the figures use, and their order in the file (DESIGN.md).
METRICS_COLUMNS = ("round", "paper_bits_per_client", "uplink_bytes_per_client",
                   "downlink_bytes_per_client", "loss", "grad_norm", "grad_norm_sq", "g_norm",
                   "stepsize", "wall_seconds")
WANTED = ("round", "paper_bits_per_client", "loss", "grad_norm_sq")


def load_metrics(path, max_round=None):
    """Reads metrics.csv into {column: numpy array}, rows with round <= max_round (all if None)."""
    values = {name: [] for name in WANTED}
    with open(path, newline="") as f:
        reader = csv.reader(f)
        header = next(reader, [])
        if tuple(header[:len(METRICS_COLUMNS) - 1]) != METRICS_COLUMNS[:-1]:
            raise ValueError(f"{path}: header {header} does not start with {METRICS_COLUMNS[:-1]}")
        index = {name: header.index(name) for name in WANTED}
        for row in reader:
            if max_round is not None and int(row[0]) > max_round:
                break
            for name in WANTED:
                # grad_norm and grad_norm_sq are empty cells on rounds without diagnostics.
                cell = row[index[name]]
                values[name].append(float(cell) if cell else math.nan)
    return {name: np.asarray(v) for name, v in values.items()}
