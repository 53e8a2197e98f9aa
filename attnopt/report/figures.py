"""Figures built from loaded runs and their histories (files only; no optimizer is imported)."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker as ticker  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from attnopt.report.curves import median_band  # noqa: E402
from attnopt.report.markdown import FIXED_LAYOUT  # noqa: E402
from attnopt.report.registry import NotApplicable, figure  # noqa: E402
from attnopt.report.style import HANDLE_LENGTH, ordered, ordered_landscapes, styles  # noqa: E402
from attnopt.report.tables import require  # noqa: E402

#: losses at or below this (after subtracting f_opt) are drawn at it, so a run that hit the optimum
#: exactly stays on a log axis instead of vanishing from it
FLOOR = 1e-16
#: the largest grid of panels fig1 draws (a landscape per row, a dimension per column)
MAX_ROWS, MAX_COLS = 8, 8


class _PlainLog(ticker.LogFormatter):
    """Log-axis labels as plain numbers with enough digits to tell neighbouring ticks apart
    (matplotlib's default writes 2.125x10^1, or 3e+04 three times on a narrow panel)."""

    def _num_to_string(self, x, vmin, vmax):
        return f"{x:.4g}"


def _landscape_order(runs: pd.DataFrame) -> list[str]:
    return ordered_landscapes(runs["landscape"])


def _gap_history(h: pd.DataFrame, f_opt) -> pd.DataFrame:
    shift = 0.0 if f_opt is None or pd.isna(f_opt) else float(f_opt)
    return h.assign(loss=np.maximum(h["loss"] - shift, FLOOR), best_loss=np.maximum(h["best_loss"] - shift, FLOOR))


def _seeds(counts) -> str:
    lo, hi = int(min(counts)), int(max(counts))
    n = f"{lo}" if lo == hi else f"{lo}-{hi}"
    return f"{n} seed" + ("" if hi == 1 else "s")


def _log_or_linear(ax, values: np.ndarray) -> None:
    """Log y axis where the curves span a decade or more; linear where they stay in a narrow band
    (Ackley's plateau at 19.5-21.3), which a log axis would squeeze into unreadable ticks."""
    v = values[np.isfinite(values) & (values > 0)]
    if v.size and v.max() / v.min() >= 10:
        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(_PlainLog(labelOnlyBase=False))
        ax.yaxis.set_minor_formatter(ticker.NullFormatter())


@figure("fig1")
def fig1(runs: pd.DataFrame, histories: dict) -> plt.Figure:
    """Report Figure 1: loss of the iterate (f - f* where f* is known) against evaluations, one
    panel per landscape (rows) and dimension (columns) that has runs, one median line per optimizer
    with the inter-quartile band over seeds (the band only where there are 2 or more)."""
    require(runs, ["landscape", "dimension", "optimizer"], "fig1")
    runs = runs[runs["run_dir"].isin(histories.keys())]
    if runs.empty:
        raise NotApplicable("fig1 needs run histories")
    rows, dims = _landscape_order(runs), sorted(runs["dimension"].astype(int).unique())
    present = {(str(l), int(d)) for l, d in zip(runs["landscape"], runs["dimension"])}
    if len(rows) > MAX_ROWS or len(dims) > MAX_COLS:  # say so instead of drawing a poster nobody can read
        raise NotApplicable(f"fig1 would need {len(rows)} rows (landscapes: {', '.join(rows[:4])}, ...) x "
                            f"{len(dims)} columns (dimensions); at most {MAX_ROWS} x {MAX_COLS}: report the sweeps "
                            "one at a time (attnopt report DIR_A DIR_B keeps them apart by label)")
    look = styles(runs["optimizer"].unique())
    width, height = 2.9 * len(dims) + 1, 2.4 * len(rows) + 1.3
    # Fixed margins instead of tight_layout: measuring 28 log-scaled panels took half the time.
    fig, axes = plt.subplots(len(rows), len(dims), figsize=(width, height), squeeze=False,
                             gridspec_kw=dict(left=1.1 / width, right=1 - 0.15 / width, bottom=0.6 / height,
                                              top=1 - 1.0 / height, wspace=0.32, hspace=0.5))
    # Evaluations, not iterations: at equal budgets gd runs 999 iterations where attention search
    # runs 30, and an iteration axis made attention's curve look as if it had stopped early.
    last = max(float((h["f_evals"] + h["g_evals"]).iloc[-1]) for h in histories.values())
    grid = np.unique(np.geomspace(1, max(last, 1), 300).round())
    has_opt = "f_opt" in runs.columns and runs["f_opt"].notna().all()
    for i, land in enumerate(rows):
        for j, dim in enumerate(dims):
            ax = axes[i, j]
            if (land, dim) not in present:  # a panel with no runs is left out, not drawn empty
                ax.set_visible(False)
                continue
            cell = runs[(runs["landscape"] == land) & (runs["dimension"].astype(int) == dim)]
            drawn = []
            for opt, group in cell.groupby("optimizer"):
                hs = [_gap_history(histories[d], f) for d, f in zip(group["run_dir"], group.get("f_opt", [None] * len(group)))]
                line = median_band(ax, hs, "evals", "loss", label=str(opt), grid=grid, lw=1.4, band=len(hs) > 1,
                                   **look[opt])
                drawn.append(line.get_ydata())
            ax.set_xscale("log")
            ax.xaxis.set_minor_locator(ticker.NullLocator())
            _log_or_linear(ax, np.concatenate(drawn) if drawn else np.array([]))
            ax.tick_params(axis="both", which="both", labelsize=8)
            ax.grid(True, which="major", alpha=0.3)
            ax.set_title(f"{land}, d = {dim}", fontsize=9)
            if j == 0 or (land, dims[j - 1]) not in present:
                ax.set_ylabel("f(x) - f*" if has_opt else "f(x)", fontsize=9)
            ax.set_xlabel("evaluations (f + grad)", fontsize=8)
    handles = [plt.Line2D([], [], lw=2, label=n, **look[n]) for n in ordered(runs["optimizer"].unique())]
    seeds = runs.groupby(["landscape", "dimension", "optimizer"]).size()
    band = "median and inter-quartile band" if seeds.max() > 1 else "one run each"
    fig.suptitle(f"Loss of the iterate against evaluations: {band} over {_seeds(seeds)} "
                 f"(values below {FLOOR:g} drawn at {FLOOR:g})", y=1 - 0.12 / height, va="top", fontsize=11)
    # Below the title, above the panels, so it hides no curve.
    fig.legend(handles=handles, handlelength=HANDLE_LENGTH, loc="lower center", ncol=min(len(handles), 7),
               frameon=False, bbox_to_anchor=(0.5, 1 - 0.85 / height), fontsize=9)
    setattr(fig, FIXED_LAYOUT, True)  # margins above are in inches: no tight bbox needed
    return fig


__all__ = ["fig1"]
