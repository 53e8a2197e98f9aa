"""The per-run loss figure. Reads a history (a DataFrame or a dict of columns); knows nothing about optimizers."""
from __future__ import annotations

import numpy as np
# A bare Figure, not pyplot: no global figure registry to close, no GUI backend to pick, and
# ~0.1 s less to import on every run that plots (savefig renders with Agg by itself).
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator


def _interp(x, xp, fp):
    """np.interp that continues the end segments' slopes, so a secondary axis stays monotone
    beyond the data (matplotlib asks for values across the whole padded axis)."""
    x = np.asarray(x, dtype=float)
    out = np.interp(x, xp, fp)
    lo_slope = (fp[1] - fp[0]) / (xp[1] - xp[0]) if xp[1] != xp[0] else 0.0
    hi_slope = (fp[-1] - fp[-2]) / (xp[-1] - xp[-2]) if xp[-1] != xp[-2] else 0.0
    out = np.where(x < xp[0], fp[0] + (x - xp[0]) * lo_slope, out)
    return np.where(x > xp[-1], fp[-1] + (x - xp[-1]) * hi_slope, out)


def loss_figure(history, title: str, f_opt=None):
    """Loss of the iterate and best-so-far against iterations; log scale when all values are > 0.

    With a known optimum the y axis shows f - f_opt, the quantity that says how close a run got.
    """
    fig = Figure(figsize=(7, 4.2))
    ax = fig.subplots()
    shift = f_opt if f_opt is not None else 0.0
    loss = np.asarray(history["loss"], dtype=float) - shift
    best = np.asarray(history["best_loss"], dtype=float) - shift
    it = np.asarray(history["iter"])
    ax.plot(it, loss, lw=1.0, alpha=0.7, label="loss of iterate")
    ax.plot(it, best, lw=2.0, label="best so far")
    finite = np.concatenate([loss[np.isfinite(loss)], best[np.isfinite(best)]])
    if finite.size and finite.min() > 0:
        ax.set_yscale("log")
    ax.set_xlabel("iteration")
    ax.set_ylabel("f(x) - f*" if f_opt is not None else "f(x)")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    # A second axis in evaluations: comparisons across optimizers should be per evaluation.
    evals = np.asarray(history["f_evals"], dtype=float) + np.asarray(history["g_evals"], dtype=float)
    if len(it) > 1 and evals[-1] > evals[0]:
        sec = ax.secondary_xaxis("top", functions=(lambda i: _interp(i, it, evals), lambda e: _interp(e, evals, it)))
        sec.xaxis.set_major_locator(MaxNLocator(nbins=6))
        sec.set_xlabel("evaluations (f + grad)")
    fig.tight_layout()
    return fig
