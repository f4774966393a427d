#!/usr/bin/python3
"""An independent, vectorized NumPy implementation of EF21 and ||EF21|| (top-k, float64 values).

Two uses:
  - cross-check: tests/e2e/numpy_reference_test.sh compares its trajectory with `ef21 simulate
    --value-type=f64` on the same data and x^0 (read from the simulator's --x0-file);
  - baseline: bench/simulate_vs_numpy.sh times it against `ef21 simulate` on the same run, side by
    side, the "one Python process" simulation researchers use today.

usage: numpy_reference.py --data FILE --features D --algorithm ef21|norm-ef21 --k K --rounds R
                          --gamma G --x0-file FILE [--lambda 0.1] [--out metrics.csv]
Writes round,loss,grad_norm_sq,g_norm per round (row 0 is x^0), one client per data row.
"""

import argparse
import sys
import time

import numpy as np


def read_libsvm(path, features):
    labels, rows, cols, vals = [], [], [], []
    with open(path) as f:
        for line in f:
            line = line.split("#")[0].strip()
            if not line:
                continue
            parts = line.split()
            labels.append(float(parts[0]))
            for token in parts[1:]:
                i, v = token.split(":")
                rows.append(len(labels) - 1)
                cols.append(int(i) - 1)
                vals.append(float(v))
    a = np.zeros((len(labels), features))
    a[rows, cols] = vals
    b = np.array(labels)
    lo, hi = np.unique(b)[[0, -1]]
    return a, np.where(b == hi, 1.0, -1.0) if lo != hi else np.sign(b)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--data", required=True)
    p.add_argument("--features", type=int, required=True)
    p.add_argument("--algorithm", choices=["ef21", "norm-ef21"], required=True)
    p.add_argument("--k", type=int, default=1)
    p.add_argument("--rounds", type=int, required=True)
    p.add_argument("--gamma", type=float, required=True)
    p.add_argument("--lambda", dest="lam", type=float, default=0.1)
    p.add_argument("--x0-file", required=True)
    p.add_argument("--out")
    args = p.parse_args()

    a, b = read_libsvm(args.data, args.features)
    n, d = a.shape
    x = np.loadtxt(args.x0_file, ndmin=1)
    lam, k = args.lam, args.k
    started = time.perf_counter()

    def local_gradients(x):
        # f_i(x) = log(1 + exp(-b_i a_i.x)) + lam sum x^2/(1+x^2), one row per client.
        z = b * (a @ x)
        loss = np.logaddexp(0.0, -z) + lam * np.sum(x * x / (1 + x * x))
        slope = -b / (1.0 + np.exp(z))
        grads = slope[:, None] * a + (2 * lam * x / (1 + x * x) ** 2)[None, :]
        return loss, grads

    def top_k(m):
        # Per row: the k largest |m_ij|, ties to the lower index (stable sort of -|m|).
        idx = np.argsort(-np.abs(m), axis=1, kind="stable")[:, :k]
        c = np.zeros_like(m)
        rows = np.arange(m.shape[0])[:, None]
        c[rows, idx] = m[rows, idx]
        return c

    loss, grads = local_gradients(x)
    g_i = grads.copy()  # --init=full
    g = g_i.mean(axis=0)
    out = ["round,loss,grad_norm_sq,g_norm"]
    for t in range(args.rounds + 1):
        out.append(f"{t},{loss.mean():.17g},{np.sum(grads.mean(axis=0) ** 2):.17g},{np.linalg.norm(g):.17g}")
        if t == args.rounds:
            break
        norm = np.linalg.norm(g)
        if args.algorithm == "norm-ef21":
            x = x - args.gamma * g / norm if norm > 0 else x
        else:
            x = x - args.gamma * g
        loss, grads = local_gradients(x)
        c = top_k(grads - g_i)
        g_i += c
        g = g + c.mean(axis=0)
    elapsed = time.perf_counter() - started
    text = "\n".join(out) + "\n"
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)
    else:
        sys.stdout.write(text)
    print(f"numpy {args.algorithm}: {args.rounds} rounds, {n} clients in {elapsed:.3f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
