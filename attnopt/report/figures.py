"""Figures built from loaded runs and their histories (files only; no optimizer is imported)."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker as ticker  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from attnopt.report import median_band  # noqa: E402
from attnopt.report.registry import NotApplicable, figure  # noqa: E402
from attnopt.report.tables import require  # noqa: E402

#: losses at or below this (after subtracting f_opt) are drawn at it, so a run that hit the optimum
#: exactly stays on a log axis instead of vanishing from it
FLOOR = 1e-16
#: COCO's targets: f - f_opt from 1e2 down to 1e-8, five per decade
ECDF_TARGETS = 10.0 ** np.linspace(2.0, -8.0, 51)


class _PlainLog(ticker.LogFormatter):
    """Log-axis labels as plain numbers with enough digits to tell neighbouring ticks apart
    (matplotlib's default writes 2.125x10^1, or 3e+04 three times on a narrow panel)."""

    def _num_to_string(self, x, vmin, vmax):
        return f"{x:.4g}"


def _colors(names) -> dict:
    cycle = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    return {name: cycle[i % len(cycle)] for i, name in enumerate(sorted(names))}


def _landscape_order(runs: pd.DataFrame) -> list[str]:
    # the report's order where it applies, then anything else alphabetically
    known = ["sphere", "rastrigin", "ackley", "griewank", "rosenbrock"]
    present = list(dict.fromkeys(runs["landscape"]))
    return [n for n in known if n in present] + sorted(n for n in present if n not in known)


def _gap_history(h: pd.DataFrame, f_opt) -> pd.DataFrame:
    shift = 0.0 if f_opt is None or pd.isna(f_opt) else float(f_opt)
    return h.assign(loss=np.maximum(h["loss"] - shift, FLOOR), best_loss=np.maximum(h["best_loss"] - shift, FLOOR))


@figure("fig1")
def fig1(runs: pd.DataFrame, histories: dict) -> plt.Figure:
    """Report Figure 1: loss of the iterate against iterations, one panel per landscape (rows) and
    dimension (columns), one median line per optimizer with the inter-quartile band over seeds."""
    require(runs, ["landscape", "dimension", "optimizer"], "fig1")
    runs = runs[runs["run_dir"].isin(histories.keys())]
    if runs.empty:
        raise NotApplicable("fig1 needs run histories")
    rows, dims = _landscape_order(runs), sorted(runs["dimension"].astype(int).unique())
    colors = _colors(runs["optimizer"].unique())
    width, height = 2.9 * len(dims) + 1, 2.4 * len(rows) + 1.2
    # Fixed margins instead of tight_layout: measuring 28 log-scaled panels took half the time.
    fig, axes = plt.subplots(len(rows), len(dims), figsize=(width, height), squeeze=False, sharex=True,
                             gridspec_kw=dict(left=1.1 / width, right=1 - 0.15 / width, bottom=0.6 / height,
                                              top=1 - 0.9 / height, wspace=0.32, hspace=0.12))
    # The x axis is logarithmic, so 300 log-spaced iterations show all there is to see; one point
    # per iteration (5,000 for gd) only made the figure slow to draw.
    last = max(int(h["iter"].iloc[-1]) for h in histories.values())
    grid = np.unique(np.geomspace(1, max(last, 1), 300).round())
    has_opt = "f_opt" in runs.columns and runs["f_opt"].notna().all()
    for i, land in enumerate(rows):
        for j, dim in enumerate(dims):
            ax = axes[i, j]
            cell = runs[(runs["landscape"] == land) & (runs["dimension"].astype(int) == dim)]
            for opt, group in cell.groupby("optimizer"):
                hs = [_gap_history(histories[d], f) for d, f in zip(group["run_dir"], group.get("f_opt", [None] * len(group)))]
                median_band(ax, hs, "iter", "loss", label=str(opt), grid=grid, color=colors[opt], lw=1.4)
            ax.set_xscale("log")
            ax.set_yscale("log")
            # Plain numbers: a panel spanning less than a decade otherwise shows "2.125 x 10^1".
            ax.yaxis.set_major_formatter(_PlainLog(labelOnlyBase=False))
            ax.yaxis.set_minor_formatter(_PlainLog(labelOnlyBase=False, minor_thresholds=(1, 0.5)))
            ax.tick_params(axis="y", which="both", labelsize=8)
            ax.grid(True, which="major", alpha=0.3)
            if cell.empty:
                ax.text(0.5, 0.5, "no runs", ha="center", va="center", transform=ax.transAxes, color="0.5")
            if i == 0:
                ax.set_title(f"d = {dim}")
            if j == 0:
                ax.set_ylabel(f"{land}\n" + ("f(x) - f*" if has_opt else "f(x)"))
            if i == len(rows) - 1:
                ax.set_xlabel("iteration (log scale)")
    handles = [plt.Line2D([], [], color=c, lw=2, label=n) for n, c in colors.items()]
    seeds = runs.groupby(["landscape", "dimension", "optimizer"]).size()
    fig.suptitle(f"Loss of the iterate: median and inter-quartile band over {seeds.min()}"
                 f"{'' if seeds.min() == seeds.max() else '-' + str(seeds.max())} seeds "
                 f"(values below {FLOOR:g} drawn at {FLOOR:g})", y=1 - 0.12 / height, va="top")
    # Below the title, above the panels, so it hides no curve.
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), frameon=False,
               bbox_to_anchor=(0.5, 1 - 0.75 / height))
    return fig


def runtimes_to_targets(h: pd.DataFrame, f_opt: float, targets: np.ndarray = ECDF_TARGETS) -> np.ndarray:
    """Evaluations (f + grad) a run took to first reach best_loss - f_opt <= each target; inf if never."""
    gap = h["best_loss"].to_numpy(float) - f_opt  # best-so-far: non-increasing
    evals = (h["f_evals"] + h["g_evals"]).to_numpy(float)
    first = np.searchsorted(-gap, -targets, side="left")  # first index with gap <= target
    return np.where(first < len(gap), evals[np.minimum(first, len(gap) - 1)], np.inf)


@figure("fig_ecdf")
def fig_ecdf(runs: pd.DataFrame, histories: dict) -> plt.Figure:
    """COCO-style runtime ECDF: per optimizer, the fraction of (run, target) pairs solved within a
    number of evaluations, targets f - f* in 10^[2..-8]. Each run (landscape, dimension, seed) is a
    problem instance; one panel pools all, the others split by landscape."""
    require(runs, ["landscape", "optimizer", "f_opt"], "fig_ecdf")
    runs = runs[runs["run_dir"].isin(histories.keys()) & pd.to_numeric(runs["f_opt"], errors="coerce").notna()]
    if runs.empty:
        raise NotApplicable("fig_ecdf needs runs on landscapes with a known optimum")
    colors = _colors(runs["optimizer"].unique())
    panels = [("all landscapes", runs)] + [(land, runs[runs["landscape"] == land]) for land in _landscape_order(runs)]
    fig, axes = plt.subplots(1, len(panels), figsize=(3.6 * len(panels), 3.6), sharey=True, squeeze=False)
    axes = axes[0]
    max_evals = 1.0
    for ax, (title, subset) in zip(axes, panels):
        for opt, group in subset.groupby("optimizer"):
            times = np.concatenate([runtimes_to_targets(histories[d], float(f))
                                    for d, f in zip(group["run_dir"], group["f_opt"])])
            budget = max(float((histories[d]["f_evals"] + histories[d]["g_evals"]).iloc[-1]) for d in group["run_dir"])
            max_evals = max(max_evals, budget)
            solved = np.sort(times[np.isfinite(times)])
            frac = np.arange(1, solved.size + 1) / times.size
            xs = np.concatenate([[1.0], np.maximum(solved, 1.0), [budget]])
            ys = np.concatenate([[0.0], frac, [frac[-1] if frac.size else 0.0]])
            ax.step(xs, ys, where="post", color=colors[opt], lw=1.8, label=f"{opt}")
            ax.plot([budget], [ys[-1]], marker="x", color=colors[opt], ms=7)
        n_runs = len(subset)
        ax.set_title(f"{title} ({n_runs} runs)", fontsize=10)
        ax.set_xscale("log")
        ax.set_ylim(-0.02, 1.02)
        ax.grid(True, which="major", alpha=0.3)
        ax.set_xlabel("evaluations (f + grad)")
    axes[0].set_ylabel("fraction of (run, target) pairs solved")
    for ax in axes:
        ax.set_xlim(1, max_evals * 1.5)
    axes[0].legend(loc="upper left", fontsize=9)
    fig.suptitle(f"Runtime ECDF, {len(ECDF_TARGETS)} targets f - f* from 1e2 to 1e-8 (x: end of budget)", y=1.0)
    fig.tight_layout()
    return fig


__all__ = ["fig1", "fig_ecdf", "runtimes_to_targets", "ECDF_TARGETS"]
