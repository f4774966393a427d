"""ef21tools: the Python side of ef21 — running the binary, reading runs, statistics, tables, plots.

Modules (only `compare`, `stats`, `tables` and `doccommands` are standard library only; the rest
need Debian's python3-numpy and python3-matplotlib, hence /usr/bin/python3):

  compare      metrics.csv of two runs, cell by cell as text (the "simulate ≡ federation" check);
               also a command: tools/compare_metrics.py A B
  stats        median, 'median [min–max]' spreads, the band (mean over the last 10% of rounds)
  tables       number formatting, markdown and aligned text tables, table.md + table.csv
  metrics      metrics.csv columns and loading them into numpy arrays
  plots        the figures (matplotlib, Agg backend)
  runner       running `ef21 simulate|run` into run directories, in parallel
  figures/     one module per experiment (fig1, fig4, fig2, fig2_federation, sgdm), each with its
               full and tiny grids as data
  experiments  the driver behind tools/experiments.py
  demo_report  the table and plot of scripts/demo.sh
  doccommands  the shell commands in a markdown page's fenced blocks (tests/e2e/docs_test.sh)

Entry points stay where users know them: tools/experiments.py, tools/demo_report.py,
tools/compare_metrics.py. Tests: tools/tests (pytest, run by ctest as tools.pytest).
"""
