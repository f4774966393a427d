#!/usr/bin/env bash
# The experiment driver on tiny configurations: every experiment's code path, in seconds.
#   - `tools/experiments.py --tiny` runs fig1, fig4, fig2, sgdm (and fig2-federation when the
#     binary has `ef21 run`; otherwise that check alone is skipped with a SKIP line) and exits 0;
#   - every figure is a PNG and every table lists the methods and settings it must (the paper's
#     names: EF21, ||EF21||, ...), with finite numbers where numbers belong;
#   - results that follow from the mathematics hold: ||EF21|| with gamma = 1/(2 c1) reaches
#     ||grad f||^2 < 1e-4 on the polynomial with L1 = 1 within 3000 rounds, and gamma0 = 0.1 cannot
#     reach it within K = 10000 (K gamma0/sqrt(K+1) <= 10 is less than the distance from
#     x^0 ~ N(20, 1) in R^4 to the only stationary point 0);
#   - fig2-federation: `ef21 run` and `ef21 simulate` agree byte for byte (federation.md says so);
#   - a broken binary makes the driver fail (exit 1, FAILED on stderr) instead of writing tables.
# Usage: experiments_test.sh EF21_BINARY SOURCE_DIR      (ctest passes both)
set -uo pipefail

bin=${1:-}
src=${2:-$(cd "$(dirname "$0")/../.." && pwd)}
cd "$src" || { echo "FAIL: no source dir $src"; exit 1; }
py=/usr/bin/python3  # Debian's python3-matplotlib lives here, not in other pythons on PATH

source "$src/tools/lib/e2e.sh"

if [ ! -x "$bin" ]; then echo "FAIL: no ef21 binary at '$bin'"; exit 1; fi
if ! "$py" -c 'import matplotlib, numpy' 2>/dev/null; then
  echo "FAIL: $py cannot import matplotlib and numpy (apt-get install python3-matplotlib)"
  exit 1
fi

e2e_workdir

only=fig1,fig4,fig2,sgdm
if "$bin" run --help >/dev/null 2>&1; then
  only=$only,fig2-federation
else
  skip "fig2-federation: '$bin' has no 'run' command (ef21 run is not built yet)"
fi

if "$py" tools/experiments.py --tiny --binary="$bin" --out="$work/out" --only="$only" \
    >"$work/log" 2>&1; then
  pass "tools/experiments.py --tiny --only=$only exits 0 ($(grep -c ' s -> ' "$work/log") experiments)"
else
  fail "tools/experiments.py --tiny --only=$only failed:"
  sed 's/^/    /' "$work/log" | tail -30
fi

# Tables and figures: one Python check per experiment, printing PASS/FAIL lines.
"$py" - "$work/out" "$only" >"$work/checks" 2>&1 <<'EOF'
import csv, math, os, sys

out, only = sys.argv[1], sys.argv[2].split(",")
NORM = "||EF21||"


def say(ok, text):
    print(("PASS: " if ok else "FAIL: ") + text)


def table(name):
    path = os.path.join(out, name, "table.csv")
    if not os.path.exists(path) or not os.path.exists(os.path.join(out, name, "table.md")):
        say(False, f"{name}: table.csv and table.md exist")
        return None, []
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    return rows[0], rows[1:]


def png(name, file):
    path = os.path.join(out, name, file)
    try:
        with open(path, "rb") as f:
            head = f.read(8)
        ok = head == b"\x89PNG\r\n\x1a\n" and os.path.getsize(path) > 10000
    except OSError:
        ok = False
    say(ok, f"{name}/{file} is a PNG with something drawn")


def finite(cell):
    try:
        return math.isfinite(float(cell))
    except ValueError:
        return False


def col(header, prefix):
    return next(i for i, h in enumerate(header) if h.startswith(prefix))


if "fig1" in only:
    png("fig1", "fig1.png")
    h, rows = table("fig1")
    if h:
        methods = {(r[0], r[2]) for r in rows}
        want = {(L1, m) for L1 in ("1", "4", "8") for m in
                ("EF21", f"{NORM}, γ = 1/(2c₁)", f"{NORM}, γ = γ₀/√(K+1), γ₀=1")}
        say(methods == want, f"fig1 table: EF21 and both ||EF21|| stepsizes for L1 = 1, 4, 8 "
                             f"(missing {sorted(want - methods)}, extra {sorted(methods - want)})")
        m = col(h, "min ‖∇f‖²")
        say(all(finite(r[m]) for r in rows), "fig1 table: min ‖∇f‖² finite in every row")
        r = next(r for r in rows if r[0] == "1" and r[2] == f"{NORM}, γ = 1/(2c₁)")
        reach = r[col(h, "rounds to ε (seed 0)")]
        say(reach.isdigit() and int(reach) <= 3000,
            f"fig1: ||EF21|| with 1/(2c1), L1 = 1 reaches 1e-4 within 3000 rounds (got {reach!r})")

if "fig4" in only:
    png("fig4", "fig4.png")
    h, rows = table("fig4")
    if h:
        cells = {(r[0], r[1]) for r in rows}
        want = {(L1, g) for L1 in ("1", "8") for g in ("0.1", "1", "10")}
        say(cells == want, f"fig4 table: every (L1, γ₀) of the tiny grid ({sorted(cells)})")
        r = next((r for r in rows if (r[0], r[1]) == ("8", "0.1")), None)
        say(r is not None and r[4] == "none" and r[3] == "10000",
            "fig4: γ₀ = 0.1 does not reach 1e-4 within the cap K = 10000 (travel ≤ 10 < ‖x⁰‖)")
        r = next((r for r in rows if (r[0], r[1]) == ("1", "1")), None)
        say(r is not None and r[4].isdigit() and int(r[4]) % 500 == 0,
            f"fig4: L1 = 1, γ₀ = 1 gives a K on the grid (got {r[4] if r else None!r})")

if "fig2" in only:
    for k in ("k1", "k5", "k10pct"):
        png("fig2", f"fig2_{k}.png")
    h, rows = table("fig2")
    if h:
        got = {(r[0], r[1].split()[0], r[3]) for r in rows}
        want = {(d, k, m) for d, ks in (("synthetic 20×10", ("1", "5")),
                                       ("breast-cancer", ("1", "5")), ("a1a", ("1", "5", "12")))
                for k in ks for m in ("EF21", NORM)}
        say(got == want, f"fig2 table: EF21 and ||EF21|| for every data set and k "
                         f"(missing {sorted(want - got)}, extra {sorted(got - want)})")
        m = col(h, "min ‖∇f‖² (seed 0)")
        say(all(finite(r[m]) and float(r[m]) > 0 for r in rows),
            "fig2 table: min ‖∇f‖² positive and finite in every row")

if "sgdm" in only:
    png("sgdm", "sgdm.png")
    say(os.path.exists(os.path.join(out, "sgdm", "tuning.md")), "sgdm/tuning.md (the γ, η grid)")
    h, rows = table("sgdm")
    if h:
        got = {(r[0], r[2]) for r in rows}
        want = {(d, m) for d in ("breast-cancer", "a1a") for m in
                ("EF21-SGDM, tuned", "||EF21-SGDM||, tuned", "||EF21-SGDM||, Theorem 2")}
        say(got == want, f"sgdm table: tuned EF21-SGDM, tuned and Theorem 2 ||EF21-SGDM|| on "
                         f"both data sets (missing {sorted(want - got)})")
        say(all(finite(r[3]) and finite(r[4]) for r in rows), "sgdm table: γ and η numbers")

if "fig2-federation" in only:
    note = os.path.join(out, "fig2-federation", "federation.md")
    text = open(note).read() if os.path.exists(note) else ""
    h, rows = table("fig2-federation")
    say("IDENTICAL:" in text and rows and all(r[-1] == "identical" for r in rows),
        f"fig2-federation: ef21 run = ef21 simulate on columns 1-9 of {len(rows)} runs, "
        "and the figures are identical")

report = os.path.join(out, "report.md")
say(os.path.exists(report) and all(f"({n}/" in open(report).read() for n in only
                                   if n != "fig2-federation"),
    "report.md links every experiment's figures")
EOF
cat "$work/checks"
passed=$((passed + $(grep -c '^PASS' "$work/checks")))
failed=$((failed + $(grep -c '^FAIL' "$work/checks")))
grep -q '^Traceback' "$work/checks" && fail "the table checks crashed (see above)"

# A binary whose runs fail must make the driver fail, not write tables of nothing.
printf '#!/bin/sh\n[ "$2" = "--help" ] && { echo "usage: ef21 $1"; exit 0; }\necho broken >&2\nexit 3\n' \
  >"$work/broken-ef21"
chmod +x "$work/broken-ef21"
if "$py" tools/experiments.py --tiny --binary="$work/broken-ef21" --out="$work/broken" \
    --only=fig1 >"$work/broken.log" 2>&1; then
  fail "the driver exits 0 although every run of the binary fails"
elif grep -q "FAILED fig1" "$work/broken.log" && grep -q "exit 3: broken" "$work/broken.log"; then
  pass "a failing binary makes the driver exit non-zero, naming the experiment and the error"
else
  fail "a failing binary: unexpected driver output:"; sed 's/^/    /' "$work/broken.log" | tail -10
fi

e2e_summary
