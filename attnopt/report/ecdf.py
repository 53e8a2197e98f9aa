"""COCO / IOHprofiler-style analysis of runs: targets relative to each problem, runtimes to them,
runtime ECDFs per dimension, expected running time (ERT) with bootstrap intervals (the export of the
runs for IOHanalyzer is :mod:`attnopt.report.iohprofiler`).

A *problem* is a landscape (as labelled, so "ackley (rotate, shift)" is its own) at one dimension.
Each problem gets its own targets, expressed as values of f:

- ``f - f*`` log grid (COCO's): f* + 10^2 ... 10^-8, 51 targets, where f* is known and the runs'
  losses span at least two decades of that grid;
- ``scaled`` grid otherwise (f* unknown, or every run stays in a narrow band, e.g. Ackley's plateau
  at 19-21 or Rastrigin at d = 1,000 far above 10^2): 51 targets evenly from the median starting loss
  down to the best loss any run reached, f_start - q (f_start - f_best), q = 0 ... 1.

A run's runtime to a target is the number of evaluations (f + grad) after which its best loss so
far is at or below it; infinite if it never gets there.
"""
from __future__ import annotations

from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from attnopt.report.markdown import FIXED_LAYOUT  # noqa: E402
from attnopt.report.registry import NotApplicable, figure, table  # noqa: E402
from attnopt.report.style import HANDLE_LENGTH, ordered, ordered_landscapes, styles  # noqa: E402

LOG_TARGETS = 10.0 ** np.linspace(2.0, -8.0, 51)
N_TARGETS = 51
#: fewer log-grid targets than this between the runs' start and best: the log grid says nothing
MIN_LOG_TARGETS = 10
BOOTSTRAP = 1000


@dataclass
class Problem:
    dimension: int
    landscape: str
    kind: str                 # "f - f*" or "scaled"
    targets: np.ndarray       # values of f, decreasing
    f_opt: float              # NaN where unknown
    f_start: float
    f_best: float

    @property
    def name(self) -> str:
        return f"{self.landscape}, d={self.dimension}"

    def describe(self) -> str:
        if self.kind == "f - f*":
            return "f - f* in 1e2..1e-8"
        return f"scaled: f from {self.f_start:.4g} to {self.f_best:.4g}"

    def easy_hard(self) -> list[tuple[str, float]]:
        """The two targets of the ERT table."""
        if self.kind == "f - f*":
            return [("f - f* <= 1e-2", self.f_opt + 1e-2), ("f - f* <= 1e-8", self.f_opt + 1e-8)]
        span = self.f_start - self.f_best
        return [("50% of start - best", self.f_start - 0.5 * span), ("99% of start - best", self.f_start - 0.99 * span)]


def _series(h: pd.DataFrame, grad_cost: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    return h["best_loss"].to_numpy(float), (h["f_evals"] + grad_cost * h["g_evals"]).to_numpy(float)


def runtimes(h: pd.DataFrame, targets, f_opt: float = 0.0, grad_cost: float = 1.0) -> np.ndarray:
    """The one runtime-to-target rule of the reports: per target, the evaluations (f + grad, a
    gradient counting ``grad_cost``) after which the run's best loss so far minus ``f_opt`` is at or
    below it; inf if never. ``targets``: values of f - f_opt (with the default f_opt = 0: of f)."""
    best, evals = _series(h, grad_cost)
    gap = np.minimum.accumulate(np.where(np.isnan(best), np.inf, best)) - f_opt  # non-increasing
    first = np.searchsorted(-gap, -np.asarray(targets, float), side="left")  # first index with gap <= target
    return np.where(first < len(gap), evals[np.minimum(first, len(gap) - 1)], np.inf)


def problems(runs: pd.DataFrame, histories: dict) -> dict[tuple[int, str], Problem]:
    """One Problem per (dimension, landscape) of ``runs`` with histories, by dimension and then in
    the report's order of landscapes."""
    out = {}
    f_opt_col = pd.to_numeric(runs.get("f_opt", pd.Series(np.nan, index=runs.index)), errors="coerce")
    for (dim, land), g in runs.assign(_f_opt=f_opt_col).groupby(["dimension", "landscape"], sort=True):
        hs = [histories[d] for d in g["run_dir"] if d in histories]
        if not hs:
            continue
        start = float(np.median([h["loss"].iloc[0] for h in hs]))
        best = float(np.nanmin([h["best_loss"].min() for h in hs]))
        f_opt = float(g["_f_opt"].iloc[0]) if g["_f_opt"].notna().all() and g["_f_opt"].nunique() == 1 else np.nan
        kind = "scaled"
        if np.isfinite(f_opt):
            gaps = LOG_TARGETS
            inside = np.sum((gaps <= start - f_opt) & (gaps >= best - f_opt))
            if inside >= MIN_LOG_TARGETS:
                kind = "f - f*"
        if kind == "f - f*":
            targets = f_opt + LOG_TARGETS
        else:
            if not (np.isfinite(start) and np.isfinite(best)) or start <= best:
                start = best + max(abs(best), 1.0) * 1e-12  # nothing moved: one meaningful target, the best
            targets = start - np.linspace(0.0, 1.0, N_TARGETS) * (start - best)
        out[(int(dim), str(land))] = Problem(int(dim), str(land), kind, targets, f_opt, start, best)
    order = ordered_landscapes(land for _, land in out)  # by dimension, then in the report's order
    return {k: out[k] for k in sorted(out, key=lambda k: (k[0], order.index(k[1])))}


def _with_histories(runs: pd.DataFrame, histories: dict, name: str) -> pd.DataFrame:
    needed = [c for c in ("landscape", "optimizer", "dimension", "run_dir") if c not in runs.columns]
    if needed:
        raise NotApplicable(f"{name} needs columns {needed}, which these runs lack")
    runs = runs[runs["run_dir"].isin(histories.keys())]
    if runs.empty:
        raise NotApplicable(f"{name} needs run histories")
    return runs


def ert(evals_used: np.ndarray, hit: np.ndarray, rng: np.random.Generator, n_boot: int = BOOTSTRAP):
    """(ERT, low, high): expected running time, sum of evaluations (to the target where reached,
    the whole run where not) over the number of runs that reached it (inf for none), and its 95%
    bootstrap interval over runs resampled with replacement."""
    n = len(evals_used)
    successes = int(hit.sum())
    value = float(evals_used.sum() / successes) if successes else np.inf
    idx = rng.integers(0, n, size=(n_boot, n))
    s = hit[idx].sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        boot = np.where(s > 0, evals_used[idx].sum(axis=1) / np.maximum(s, 1), np.inf)
    lo, hi = np.percentile(boot, [2.5, 97.5], method="nearest")  # no interpolation between infs
    return value, float(lo), float(hi)


def _fmt_evals(x: float) -> str:
    if not np.isfinite(x):
        return "inf"
    return f"{x:,.0f}" if x >= 100 else f"{x:.3g}"


@table("ert")
def ert_table(runs: pd.DataFrame, histories: dict) -> pd.DataFrame:
    """Per dimension x problem x optimizer and two targets per problem: successes, ERT and its
    bootstrap 95% interval, and the median evaluations of the runs that got there."""
    runs = _with_histories(runs, histories, "ert")
    probs = problems(runs, histories)
    rng = np.random.default_rng(0)  # the intervals are part of the table: same runs, same table
    rows = []
    for (dim, land), prob in probs.items():
        cell = runs[(runs["dimension"].astype(int) == dim) & (runs["landscape"].astype(str) == land)]
        levels = prob.easy_hard()
        for opt in ordered(cell["optimizer"]):
            g = cell[cell["optimizer"] == opt]
            hs = [histories[d] for d in g["run_dir"]]
            t = np.vstack([runtimes(h, [lv for _, lv in levels]) for h in hs])
            total = np.array([float((h["f_evals"] + h["g_evals"]).iloc[-1]) for h in hs])
            for k, (label, _) in enumerate(levels):
                hit = np.isfinite(t[:, k])
                used = np.where(hit, t[:, k], total)
                value, lo, hi = ert(used, hit, rng)
                rows.append({"dimension": dim, "problem": land, "targets": prob.kind, "target": label,
                             "optimizer": opt, "runs": len(g), "successes": int(hit.sum()),
                             "ert": value, "ert_low": lo, "ert_high": hi,
                             "evals_median_of_successes": float(np.median(t[hit, k])) if hit.any() else np.nan})
    out = pd.DataFrame(rows)
    shown = pd.DataFrame({
        "d": out["dimension"], "problem": out["problem"], "target": out["target"], "optimizer": out["optimizer"],
        "successes": [f"{s}/{n}" for s, n in zip(out["successes"], out["runs"])],
        "ERT [95% CI]": [f"{_fmt_evals(v)} [{_fmt_evals(lo)}, {_fmt_evals(hi)}]" if np.isfinite(v) else "inf"
                         for v, lo, hi in zip(out["ert"], out["ert_low"], out["ert_high"])],
    })
    out.attrs["markdown"] = shown
    out.attrs["legend"] = ("ERT: expected running time in evaluations (f + grad): evaluations of all runs (to the "
                           "target where reached) / runs that reached it; [95% CI] over 1,000 bootstrap resamples of "
                           "the runs; successes: runs that reached the target / runs. Targets per problem: f - f* "
                           "where f* is known and the runs span it, else a scaled share of the way from the median "
                           "start to the best loss reached.")
    return out


@figure("fig_ecdf")
def fig_ecdf(runs: pd.DataFrame, histories: dict) -> plt.Figure:
    """Runtime ECDFs per dimension: one row of panels per dimension, one panel per problem and one
    pooling the problems of that dimension (never across dimensions); the fraction of (run, target)
    pairs solved within a number of evaluations, 51 targets per problem."""
    return ecdf_figure(_with_histories(runs, histories, "fig_ecdf"), histories)


def ecdf_figure(runs: pd.DataFrame, histories: dict, max_cols: int = 5) -> plt.Figure:
    probs = problems(runs, histories)
    if not probs:
        raise NotApplicable("an ECDF needs runs with histories")
    opts = ordered(runs["optimizer"])
    look = styles(opts)
    dims = sorted({d for d, _ in probs})
    # each dimension starts a new row; wide ones wrap
    layout = []  # (dimension, [problem keys or None for the pooled panel])
    for dim in dims:
        keys = [k for k in probs if k[0] == dim]
        panels = keys + ([None] if len(keys) > 1 else [])
        for start in range(0, len(panels), max_cols):
            layout.append((dim, panels[start:start + max_cols]))
    n_rows = len(layout)
    n_cols = max(len(p) for _, p in layout)
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(3.0 * n_cols + 2.2, 2.5 * n_rows + 0.9), squeeze=False,
                             sharey=True)
    times, budget = {}, {}
    for key, prob in probs.items():
        cell = runs[(runs["dimension"].astype(int) == key[0]) & (runs["landscape"].astype(str) == key[1])]
        for opt, g in cell.groupby("optimizer"):
            hs = [histories[d] for d in g["run_dir"]]
            times[key, opt] = np.concatenate([runtimes(h, prob.targets) for h in hs])
            budget[key, opt] = max(float((h["f_evals"] + h["g_evals"]).iloc[-1]) for h in hs)
    max_budget = max(budget.values())
    for r, (dim, panels) in enumerate(layout):
        for c in range(n_cols):
            ax = axes[r, c]
            if c >= len(panels):
                ax.set_visible(False)
                continue
            key = panels[c]
            keys = [k for k in probs if k[0] == dim] if key is None else [key]
            for opt in opts:
                parts = [times[k, opt] for k in keys if (k, opt) in times]
                if not parts:
                    continue
                t = np.concatenate(parts)
                end = max(budget[k, opt] for k in keys if (k, opt) in budget)
                solved = np.sort(t[np.isfinite(t)])
                frac = np.arange(1, solved.size + 1) / t.size
                xs = np.concatenate([[1.0], np.maximum(solved, 1.0), [end]])
                ys = np.concatenate([[0.0], frac, [frac[-1] if frac.size else 0.0]])
                ax.step(xs, ys, where="post", lw=1.6, label=opt, **look[opt])
                ax.plot([end], [ys[-1]], marker="x", ms=5, color=look[opt]["color"], ls="none")
            if key is None:
                title = f"all {len(keys)} problems, d={dim}"
            else:
                n = int(((runs["dimension"].astype(int) == dim) & (runs["landscape"].astype(str) == key[1])).sum())
                title = f"{key[1]}, d={dim} ({n} runs)\n{probs[key].describe()}"
            ax.set_title(title, fontsize=8)
            ax.set_xscale("log")
            ax.set_xlim(1, max_budget * 2)
            ax.set_ylim(-0.02, 1.02)
            ax.grid(True, which="major", alpha=0.3)
            ax.tick_params(labelsize=7)
            ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
            if c == 0:
                ax.set_ylabel("fraction of\n(run, target) pairs", fontsize=8)
            if r == n_rows - 1 or (r + 1 < n_rows and c >= len(layout[r + 1][1])):
                ax.set_xlabel("evaluations (f + grad)", fontsize=8)
    handles = [plt.Line2D([], [], lw=2, label=o, **look[o]) for o in opts]
    width, height = fig.get_figwidth(), fig.get_figheight()
    fig.subplots_adjust(left=0.75 / width, right=1 - 2.1 / width, bottom=0.5 / height, top=1 - 0.75 / height,
                        wspace=0.12, hspace=0.75)
    fig.legend(handles=handles, handlelength=HANDLE_LENGTH, loc="upper left",
               bbox_to_anchor=(1 - 2.0 / width, 1 - 0.75 / height), frameon=False, fontsize=8, title="optimizer",
               title_fontsize=8)
    fig.suptitle(f"Runtime ECDFs per dimension, {N_TARGETS} targets per problem (x: end of budget)", fontsize=10,
                 y=1 - 0.15 / height, va="top")
    setattr(fig, FIXED_LAYOUT, True)  # margins above are in inches: no tight bbox needed
    return fig


__all__ = ["Problem", "problems", "runtimes", "ert", "ert_table", "fig_ecdf", "ecdf_figure", "LOG_TARGETS", "N_TARGETS"]
