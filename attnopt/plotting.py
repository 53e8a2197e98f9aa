"""The per-run loss figure. Reads a history DataFrame; knows nothing about optimizers."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def loss_figure(history, title: str, f_opt=None):
    """Loss of the iterate and best-so-far against iterations; log scale when all values are > 0.

    With a known optimum the y axis shows f - f_opt, the quantity that says how close a run got.
    """
    fig, ax = plt.subplots(figsize=(7, 4.2))
    shift = f_opt if f_opt is not None else 0.0
    loss = history["loss"].to_numpy(float) - shift
    best = history["best_loss"].to_numpy(float) - shift
    it = history["iter"].to_numpy()
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
    evals = (history["f_evals"] + history["g_evals"]).to_numpy(float)
    if len(it) > 1 and evals[-1] > 0:
        sec = ax.secondary_xaxis("top", functions=(lambda i: np.interp(i, it, evals), lambda e: np.interp(e, evals, it)))
        sec.set_xlabel("evaluations (f + grad)")
    fig.tight_layout()
    return fig
