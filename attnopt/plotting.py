"""The per-run loss figure. Reads a history (a DataFrame or a dict of columns); knows nothing about optimizers.

A sweep writes one loss.png per run, so the figure is made to be cheap to redraw: ONE Figure per
process (a bare ``matplotlib.figure.Figure``, not pyplot: no global registry, no GUI backend), its
artists built once and updated in place for each run (``set_data``, the title, the scales), laid
out once with fixed margins (no ``tight_layout`` and no tight crop at save: each costs a full
extra draw), and tick labels in plain text (matplotlib's default log-axis labels are mathtext,
whose parser alone took ~0.5 s of CPU in every process that plotted).
"""
from __future__ import annotations

import numpy as np

#: savefig's resolution for loss.png: 7 x 4.2 inches -> 700 x 420 pixels
DPI = 100
_figure = None  # this process's loss figure: (Figure, axes, iterate line, best line, evaluations axis)


def _interp(x, xp, fp):
    """np.interp that continues the end segments' slopes, so a secondary axis stays monotone
    beyond the data (matplotlib asks for values across the whole padded axis)."""
    x = np.asarray(x, dtype=float)
    out = np.interp(x, xp, fp)
    lo_slope = (fp[1] - fp[0]) / (xp[1] - xp[0]) if xp[1] != xp[0] else 0.0
    hi_slope = (fp[-1] - fp[-2]) / (xp[-1] - xp[-2]) if xp[-1] != xp[-2] else 0.0
    out = np.where(x < xp[0], fp[0] + (x - xp[0]) * lo_slope, out)
    return np.where(x > xp[-1], fp[-1] + (x - xp[-1]) * hi_slope, out)


def _new_figure():
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 4.2), dpi=DPI)
    # fixed margins that fit the labels (the evaluations axis and the title on top)
    fig.subplots_adjust(left=0.11, right=0.97, bottom=0.12, top=0.80)
    ax = fig.subplots()
    (iterate,) = ax.plot([], [], lw=1.0, alpha=0.7, label="loss of iterate")
    (best,) = ax.plot([], [], lw=2.0, label="best so far")
    ax.set_xlabel("iteration")
    ax.legend(loc="upper right")
    # A second axis in evaluations: comparisons across optimizers should be per evaluation.
    evals = ax.secondary_xaxis("top", functions=(lambda i: i, lambda e: e))
    evals.set_xlabel("evaluations (f + grad)")
    return fig, ax, iterate, best, evals


def loss_figure(history, title: str, f_opt=None):
    """Loss of the iterate and best-so-far against iterations; log scale when all values are > 0.

    With a known optimum the y axis shows f - f_opt, the quantity that says how close a run got.
    Returns this process's one loss figure, redrawn for ``history``: save it before the next call.
    """
    from matplotlib.ticker import LogFormatter, MaxNLocator, NullLocator

    global _figure
    if _figure is None:
        _figure = _new_figure()
    fig, ax, iterate, best, evals = _figure
    shift = f_opt if f_opt is not None else 0.0
    loss = np.asarray(history["loss"], dtype=float) - shift
    best_loss = np.asarray(history["best_loss"], dtype=float) - shift
    it = np.asarray(history["iter"])
    iterate.set_data(it, loss)
    best.set_data(it, best_loss)
    finite = np.concatenate([loss[np.isfinite(loss)], best_loss[np.isfinite(best_loss)]])
    log = bool(finite.size) and finite.min() > 0
    ax.set_yscale("log" if log else "linear")
    if log:  # plain-text labels (1e-05), not mathtext
        ax.yaxis.set_major_formatter(LogFormatter())
        ax.yaxis.set_minor_formatter(LogFormatter(labelOnlyBase=False))
        if np.log10(finite.max() / finite.min()) > 3:
            # over many decades the minor ticks (8 a decade, each a tick mark and a grid line) say
            # little and cost a third of the drawing
            ax.yaxis.set_minor_locator(NullLocator())
    ax.grid(True, which="both", alpha=0.3)
    ax.relim()
    ax.autoscale_view()
    ax.set_ylabel("f(x) - f*" if f_opt is not None else "f(x)")
    ax.set_title(title)
    n_evals = np.asarray(history["f_evals"], dtype=float) + np.asarray(history["g_evals"], dtype=float)
    shown = len(it) > 1 and n_evals[-1] > n_evals[0]
    if shown:
        evals.set_functions((lambda i: _interp(i, it, n_evals), lambda e: _interp(e, n_evals, it)))
        evals.xaxis.set_major_locator(MaxNLocator(nbins=6))
    evals.set_visible(shown)
    return fig
