"""Figures for ef21's experiments and demo, drawn with matplotlib's Agg backend.

  - curves_figure: ||grad f||^2 against rounds (top row) and against paper-convention bits per
    client (bottom row, SPEC §6), log y, one column per setting;
  - band_figure: the same for several seeds per method (median line, min..max band);
  - bars_figure: grouped bars (Figure 4's smallest K per gamma0), a hatched bar at the cap for
    "not reached within the cap".

The series are dicts from ef21tools.metrics.load_metrics. Images are small (100 dpi) so they can
be committed, and carry no software or date metadata, so one input always gives the same bytes.
Nothing here runs the binary.
"""

import matplotlib

matplotlib.use("Agg")
import matplotlib.ticker  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)
import numpy as np  # noqa: E402

DPI = 100


def _positive(y):
    """Log axes cannot show 0 or non-finite values; mask them instead of dropping rows."""
    y = np.asarray(y, dtype=float)
    return np.where(np.isfinite(y) & (y > 0), y, np.nan)


def _finish(fig, path, title, legend_axes=None):
    """Title, one legend below the panels (from legend_axes' lines), tight layout, PNG."""
    if title:
        fig.suptitle(title)
    bottom = 0.0
    if legend_axes is not None:
        handles, labels = legend_axes.get_legend_handles_labels()
        fig.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize=8,
                   frameon=False)
        bottom = 0.35 / fig.get_figheight()  # inches kept free for the legend row
    fig.tight_layout(rect=(0, bottom, 1, 1))
    fig.savefig(path, dpi=DPI, metadata={"Software": None})
    plt.close(fig)


def _style_axes(ax, xlabel, eps):
    ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(r"$\|\nabla f(x^t)\|^2$")
    if eps is not None:
        ax.axhline(eps, color="grey", linestyle=":", linewidth=1)
    ax.grid(True, which="major", alpha=0.3)
    # Bits per client reach 10^5..10^7: 100k, 1M keep tick labels short.
    ax.xaxis.set_major_formatter(matplotlib.ticker.EngFormatter(sep=""))


def curves_figure(path, panels, title=None, eps=None):
    """Writes a PNG of ||grad f||^2 against rounds and bits per client.

    panels: list of {"title": str, "series": [{"label": str, "metrics": dict from load_metrics}]}.
    eps: a target drawn as a dotted line (None: no line).
    """
    cols = len(panels)
    fig, axes = plt.subplots(2, cols, figsize=(3.6 * cols, 5.6), squeeze=False)
    for c, panel in enumerate(panels):
        for s in panel["series"]:
            m = s["metrics"]
            y = _positive(m["grad_norm_sq"])
            axes[0][c].plot(m["round"], y, label=s["label"], linewidth=1.2)
            axes[1][c].plot(m["paper_bits_per_client"], y, label=s["label"], linewidth=1.2)
        axes[0][c].set_title(panel["title"], fontsize=10)
        _style_axes(axes[0][c], "rounds", eps)
        _style_axes(axes[1][c], "bits per client (paper convention)", eps)
    _finish(fig, path, title, legend_axes=axes[0][0])


def band_figure(path, panels, title=None, eps=None):
    """Like curves_figure, each series given over several seeds: median line, min..max band.

    panels: list of {"title": str, "series": [{"label": str, "metrics": [dict, ...]}]}; the
    seeds of one series must have the same rounds (they are runs of one configuration).
    """
    cols = len(panels)
    fig, axes = plt.subplots(2, cols, figsize=(4.2 * cols, 5.6), squeeze=False)
    for c, panel in enumerate(panels):
        for s in panel["series"]:
            runs = s["metrics"]
            ys = np.vstack([_positive(m["grad_norm_sq"]) for m in runs])
            lo, mid, hi = (np.nanmin(ys, axis=0), np.nanmedian(ys, axis=0), np.nanmax(ys, axis=0))
            label = f'{s["label"]} (median of {len(runs)})'
            for row, x in ((0, runs[0]["round"]), (1, runs[0]["paper_bits_per_client"])):
                line, = axes[row][c].plot(x, mid, label=label, linewidth=1.2)
                axes[row][c].fill_between(x, lo, hi, color=line.get_color(), alpha=0.2,
                                          linewidth=0)
        axes[0][c].set_title(panel["title"], fontsize=10)
        _style_axes(axes[0][c], "rounds", eps)
        _style_axes(axes[1][c], "bits per client (paper convention)", eps)
    _finish(fig, path, title, legend_axes=axes[0][0])


def bars_figure(path, groups, bars, values, caps, title=None, ylabel="K"):
    """Grouped bars with min..max whiskers; a missing value is a hatched bar at its cap.

    groups: x-axis group names; bars: bar names within a group (legend);
    values[g][b]: list of per-seed numbers, None for a seed that did not reach the target;
    caps[b]: the largest grid value tried for bar b. A bar's height is the median of the seeds
    that reached; a bar with no seed reaching is drawn hatched at the cap and labelled "> cap".
    """
    fig, ax = plt.subplots(figsize=(7.0, 4.0))
    width = 0.8 / len(bars)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for b, name in enumerate(bars):
        for g in range(len(groups)):
            x = g + (b - (len(bars) - 1) / 2) * width
            reached = [v for v in values[g][b] if v is not None]
            missed = len(values[g][b]) - len(reached)
            label = name if g == 0 else None
            if reached:
                med = float(np.median(reached))
                ax.bar(x, med, width, color=colors[b % len(colors)], label=label)
                ax.errorbar(x, med, yerr=[[med - min(reached)], [max(reached) - med]],
                            color="black", capsize=2, linewidth=0.8)
                if missed:
                    ax.text(x, med, f"{missed} >cap", ha="center", va="bottom", fontsize=6)
            else:
                ax.bar(x, caps[b], width, color="white", edgecolor=colors[b % len(colors)],
                       hatch="//", label=label)
                ax.text(x, caps[b], f"> {caps[b]:g}", ha="center", va="bottom", fontsize=6)
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels(groups)
    ax.set_yscale("log")
    # Bars on a log axis start at its bottom: put it well below the smallest value.
    everything = [v for g in values for b in g for v in b if v is not None] + list(caps)
    ax.set_ylim(bottom=min(everything) / 4)
    ax.set_ylabel(ylabel)
    ax.grid(True, axis="y", which="major", alpha=0.3)
    ax.legend(fontsize=8)
    _finish(fig, path, title)
