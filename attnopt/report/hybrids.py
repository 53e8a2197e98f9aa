"""Report Table 4 and Figure 5: the hybrids against their parts on the trapped landscape.

Both read the run directories of `attnopt run -m +experiment=table4` (files only). Losses are shown
as the gap to the trapped landscape's exactly computed optimum, f - f*.
"""
from __future__ import annotations

import warnings

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from attnopt.report.curves import curves_on_grid, median_band  # noqa: E402
from attnopt.report.figures import FLOOR, _gap_history  # noqa: E402
from attnopt.report.style import HANDLE_LENGTH, styles  # noqa: E402
from attnopt.report.markdown import fraction, median_iqr, number  # noqa: E402
from attnopt.report.registry import NotApplicable, figure, table  # noqa: E402
from attnopt.report.tables import gap_to_optimum, require  # noqa: E402

#: "Reached the global basin": final loss within this of f*. On the default trapped landscape
#: (d = 3, data_seed 0, s = 5) every other local minimum lies at least 0.0134 above f* (the
#: neighbouring ring valleys; tests/test_hybrids.py checks it), so a loss below 0.01 can only be
#: in the global minimum's basin: a certificate, not a heuristic.
SUCCESS_TOL = 1e-2
#: the report's six optimizers in its order, then the extra baseline
ORDER = ["gd", "attention", "hybrid1", "hybrid2", "hybrid3", "hybrid4", "adam"]
#: the phases that are not gradient descent, drawn as strips under the curves
EXPLORING = ("attention",)


def _trapped_runs(runs: pd.DataFrame, name: str) -> pd.DataFrame:
    require(runs, ["landscape", "optimizer", "f_opt", "final_loss", "best_loss"], name)
    runs = runs[runs["landscape"] == "trapped"]
    if runs.empty:
        raise NotApplicable(f"{name} needs runs on landscape=trapped (attnopt run -m +experiment=table4)")
    return runs


def _ordered(names) -> list[str]:
    names = list(dict.fromkeys(names))
    return [n for n in ORDER if n in names] + sorted(n for n in names if n not in ORDER)


def _q(p: float):
    def quantile(s: pd.Series) -> float:
        return float(s.quantile(p))

    quantile.__name__ = f"q{int(p * 100)}"
    return quantile


@table("table4")
def table4(runs: pd.DataFrame, histories: dict) -> pd.DataFrame:
    """Report Table 4, measured: per optimizer (and dimension) over seeds, the final loss gap
    f(x_final) - f* (median and inter-quartile range), the best loss ever evaluated (trial points
    included), the success rate (final gap <= SUCCESS_TOL: the returned point is in the global
    basin) and the rate at which any evaluated point was, time per iteration, and evaluations."""
    runs = _trapped_runs(runs, "table4")
    require(runs, ["dimension", "iters", "f_evals", "g_evals", "time_s"], "table4")
    frame = runs.assign(
        final_gap=gap_to_optimum(runs, "final_loss"),
        best_gap=gap_to_optimum(runs, "best_loss"),
        time_per_iter_ms=1e3 * runs["time_s"] / runs["iters"].clip(lower=1),
    )
    frame = frame.assign(success=frame["final_gap"] <= SUCCESS_TOL, found=frame["best_gap"] <= SUCCESS_TOL)
    out = frame.groupby(["dimension", "optimizer"]).agg(
        seeds=("final_gap", "size"),
        final_gap_median=("final_gap", "median"),
        final_gap_q25=("final_gap", _q(0.25)),
        final_gap_q75=("final_gap", _q(0.75)),
        best_gap_median=("best_gap", "median"),
        success_rate=("success", "mean"),
        found_rate=("found", "mean"),
        time_per_iter_ms=("time_per_iter_ms", "median"),
        iters=("iters", "median"),
        f_evals=("f_evals", "median"),
        g_evals=("g_evals", "median"),
    ).reset_index()
    out["dimension"] = out["dimension"].astype(int)
    successes = frame.groupby(["dimension", "optimizer"])[["success", "found"]].sum().reset_index()
    out = out.merge(successes.rename(columns={"success": "successes", "found": "found"}), on=["dimension", "optimizer"])
    rank = {n: i for i, n in enumerate(_ordered(out["optimizer"]))}
    out = out.sort_values(["dimension", "optimizer"], key=lambda c: c.map(rank) if c.name == "optimizer" else c,
                          kind="stable").reset_index(drop=True)
    out.attrs["markdown"] = pd.DataFrame({
        "d": out["dimension"], "optimizer": out["optimizer"],
        "final f - f*: median [IQR]": [median_iqr(m, a, b) for m, a, b in
                                       zip(out["final_gap_median"], out["final_gap_q25"], out["final_gap_q75"])],
        "success": [fraction(k, n) for k, n in zip(out["successes"], out["seeds"])],
        "found": [fraction(k, n) for k, n in zip(out["found"], out["seeds"])],
        "best f - f* (median)": [number(v) for v in out["best_gap_median"]],
        "ms / iter": [number(v) for v in out["time_per_iter_ms"]],
        "iters": [number(round(v)) for v in out["iters"]],
        "f evals": [number(round(v)) for v in out["f_evals"]],
        "grad evals": [number(round(v)) for v in out["g_evals"]],
    })
    out.attrs["legend"] = (f"Medians over seeds. success: seeds whose returned point is within {SUCCESS_TOL:g} of f* "
                           "(the global basin) / seeds; found: seeds that evaluated such a point / seeds; ms / iter: "
                           "wall time, which varies with the machine's load.")
    return out


def _phase_share(histories: list[pd.DataFrame], x: str, grid: np.ndarray) -> np.ndarray:
    """Fraction of runs whose step at each grid point was made by an exploring part."""
    flagged = [h.assign(_explore=h["phase"].isin(EXPLORING).astype(float)) for h in histories]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # grid points past every run's end
        return np.nanmean(curves_on_grid(flagged, x, "_explore", grid), axis=0)


@figure("fig5")
def fig5(runs: pd.DataFrame, histories: dict) -> plt.Figure:
    """Report Figure 5, measured: f - f* of the iterate for every optimizer, median and IQR band
    over seeds, against iterations (left) and evaluations (right); under each, one strip per
    optimizer with attention phases shows the share of its runs in such a phase at that point."""
    runs = _trapped_runs(runs, "fig5")
    runs = runs[runs["run_dir"].isin(histories.keys())]
    if runs.empty:
        raise NotApplicable("fig5 needs run histories")
    names = _ordered(runs["optimizer"])
    look = styles(names)
    groups = {n: [_gap_history(histories[d], f) for d, f in zip(g["run_dir"], g["f_opt"])]
              for n, g in runs.groupby("optimizer")}
    phased = [n for n in names if "phase" in groups[n][0] and groups[n][0]["phase"].isin(EXPLORING).any()
              and not groups[n][0]["phase"].iloc[1:].isin(EXPLORING).all()]
    seeds = [len(groups[n]) for n in names]
    several = max(seeds) > 1
    fig, axes = plt.subplots(2, 2, figsize=(13, 6.4 + 0.25 * len(phased)), sharex="col",
                             gridspec_kw={"height_ratios": [4, 0.35 + 0.3 * max(len(phased), 1)]})
    # Strips in a light blue ramp: "share of runs in an attention phase", from white (none) to
    # the blue of a full column; said in the colour bar, not in the title.
    strip_cmap = matplotlib.colors.LinearSegmentedColormap.from_list("phase", ["#ffffff", "#3b75af"])
    mesh = None
    for col, (x, xlabel) in enumerate([("iter", "iteration"), ("evals", "evaluations (f + grad)")]):
        ax, strip = axes[0, col], axes[1, col]
        hi = max(float((h["f_evals"] + h["g_evals"]).iloc[-1] if x == "evals" else h["iter"].iloc[-1])
                 for hs in groups.values() for h in hs)
        grid = np.unique(np.geomspace(1, max(hi, 1), 500).round())
        for n in names:
            median_band(ax, groups[n], x, "loss", label=n, grid=grid, lw=1.6, band=len(groups[n]) > 1, **look[n])
        ax.axhline(SUCCESS_TOL, color="0.3", ls=(0, (1, 1)), lw=1)
        ax.text(1.2, SUCCESS_TOL * 1.15, f"global basin: f - f* < {SUCCESS_TOL:g}", fontsize=8, color="0.3",
                va="bottom")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.grid(True, which="major", alpha=0.3)
        ax.set_title("against iterations" if x == "iter" else "against evaluations (the fair axis: equal budgets)")
        if phased:
            share = np.vstack([_phase_share(groups[n], x, grid) for n in phased])
            mesh = strip.pcolormesh(grid, np.arange(len(phased)) + 0.5, share, cmap=strip_cmap, vmin=0, vmax=1,
                                    shading="nearest")
            strip.set_yticks(np.arange(len(phased)) + 0.5, phased, fontsize=8)
            strip.set_ylim(len(phased), 0)
        else:
            strip.text(0.5, 0.5, "no run has attention phases", ha="center", va="center", transform=strip.transAxes)
            strip.set_yticks([])
        strip.set_xlabel(f"{xlabel} (log scale)")
    spread = "median, IQR band" if several else "one run each"
    axes[0, 0].set_ylabel(f"f(x) - f*  ({spread})")
    axes[1, 0].set_ylabel("attention\nphase", fontsize=8)
    dims = sorted(runs["dimension"].astype(int).unique())
    best_iterate = " (hybrid3: its best iterate)" if "hybrid3" in names else ""
    n_seeds = f"{min(seeds)}" if min(seeds) == max(seeds) else f"{min(seeds)}-{max(seeds)}"
    fig.suptitle(f"Trapped landscape (d = {', '.join(map(str, dims))}): loss of the iterate{best_iterate} over "
                 f"{n_seeds} seed{'s' if max(seeds) > 1 else ''}; values below {FLOOR:g} drawn at it", fontsize=10)
    fig.tight_layout(rect=(0, 0, 0.88, 1))
    # Outside the panels: every corner of them holds some optimizer's curve.
    handles = [plt.Line2D([], [], lw=2, label=f"{n} ({len(groups[n])})", **look[n]) for n in names]
    fig.legend(handles=handles, handlelength=HANDLE_LENGTH, loc="upper left", bbox_to_anchor=(0.885, 0.93),
               fontsize=9, frameon=False, title="optimizer (seeds)", title_fontsize=9)
    if mesh is not None:
        bar = fig.add_axes((0.9, 0.06, 0.012, 0.12))
        fig.colorbar(mesh, cax=bar)
        bar.set_title("share of runs\nin an attention\nphase", fontsize=7, loc="left")
        bar.tick_params(labelsize=7)
    return fig


__all__ = ["table4", "fig5", "SUCCESS_TOL", "ORDER"]
