"""The comparison with outside baselines (conf/experiment/compare*.yaml, `make compare`):
table ``compare`` and figure ``fig_compare_ecdf``.

A *problem* is a landscape at a dimension, plain or rotated + shifted (``landscape.rotate`` in the
run's config), so "rastrigin" and "rastrigin (rotate, shift)" are counted apart. Success is judged on the
best point a run ever evaluated, as COCO does: best_loss - f_opt <= 1e-2 and <= 1e-8. Runtimes to
those targets come from the histories with the ECDF code of :mod:`attnopt.report.figures`.
"""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402

from attnopt.report.figures import ECDF_TARGETS, runtimes_to_targets  # noqa: E402
from attnopt.report.registry import NotApplicable, figure, table  # noqa: E402
from attnopt.report.tables import gap_to_optimum, require  # noqa: E402

TARGETS = (1e-2, 1e-8)
#: the attnopt optimizers first, then the outside baselines (drawn dashed)
ORDER = ["attention_ipop", "attention", "attention_explore", "hybrid1", "hybrid2", "hybrid3", "hybrid4", "gd", "sgd",
         "adam", "learned"]
BASELINES = ["cma", "dual_annealing", "basinhopping"]
LANDSCAPES = ["rastrigin", "ackley", "griewank", "trapped"]


def with_problem(runs: pd.DataFrame) -> pd.DataFrame:
    """``runs`` plus a ``problem`` column: the landscape as loaded, whose label already says
    "(rotate, shift)" and any other setting that tells its runs apart
    (:func:`attnopt.report.label_variants`)."""
    return runs.assign(problem=runs["landscape"].astype(str))


def _problem_order(problems) -> list[str]:
    present = list(dict.fromkeys(problems))

    def key(p: str):
        base, _, mark = p.partition(" ")
        return (LANDSCAPES.index(base) if base in LANDSCAPES else len(LANDSCAPES), base, mark)

    return sorted(present, key=key)


def _optimizer_order(names) -> list[str]:
    present = set(names)
    known = [n for n in ORDER + BASELINES if n in present]
    return known + sorted(present - set(known))


def _runtimes(runs: pd.DataFrame, histories: dict, targets) -> np.ndarray:
    """(runs, targets) evaluations to reach each target; inf if never, NaN without a history."""
    out = np.full((len(runs), len(targets)), np.nan)
    for i, (d, f) in enumerate(zip(runs["run_dir"], runs["f_opt"])):
        if d in histories:
            out[i] = runtimes_to_targets(histories[d], float(f), np.asarray(targets, dtype=float))
    return out


@table("compare")
def compare(runs: pd.DataFrame, histories: dict) -> pd.DataFrame:
    """Per dimension x problem x optimizer over seeds: runs solved to f - f* <= 1e-2 and <= 1e-8,
    the median evaluations to each (over the runs that got there), the median final f - f* of the
    best point and the median wall time of a run."""
    require(runs, ["landscape", "optimizer", "dimension", "f_opt", "best_loss", "time_s", "run_dir"], "compare")
    runs = with_problem(runs[pd.to_numeric(runs["f_opt"], errors="coerce").notna()])
    if runs.empty or "landscape.rotate" not in runs.columns:
        raise NotApplicable("compare needs runs of the compare presets (landscapes with a known optimum and the "
                            "landscape.rotate key)")
    gap = gap_to_optimum(runs).to_numpy(float)
    times = _runtimes(runs, histories, TARGETS)
    frame = runs.assign(_gap=gap, _t2=times[:, 0], _t8=times[:, 1])
    rows = []
    for (dim, problem, opt), g in frame.groupby(["dimension", "problem", "optimizer"], sort=False):
        solved2, solved8 = g["_gap"] <= TARGETS[0], g["_gap"] <= TARGETS[1]
        rows.append({
            "dimension": int(dim), "problem": problem, "optimizer": opt, "runs": len(g),
            "solved_1e-2": int(solved2.sum()), "solved_1e-8": int(solved8.sum()),
            "evals_to_1e-2_median": float(np.median(g.loc[solved2, "_t2"])) if solved2.any() else np.nan,
            "evals_to_1e-8_median": float(np.median(g.loc[solved8, "_t8"])) if solved8.any() else np.nan,
            "final_gap_median": float(np.median(g["_gap"])),
            "time_s_median": float(np.median(pd.to_numeric(g["time_s"]))),
        })
    out = pd.DataFrame(rows)
    problems, opts = _problem_order(out["problem"]), _optimizer_order(out["optimizer"])
    out = out.assign(_p=out["problem"].map(problems.index), _o=out["optimizer"].map(opts.index))
    return out.sort_values(["dimension", "_p", "_o"]).drop(columns=["_p", "_o"]).reset_index(drop=True)


def _styles(names: list[str]) -> dict:
    colors = plt.get_cmap("tab20").colors
    styles, i = {}, 0
    for name in names:
        if name in BASELINES:
            styles[name] = dict(color=["black", "tab:gray", "saddlebrown"][BASELINES.index(name)], ls="--", lw=1.8)
        else:
            styles[name] = dict(color=colors[(2 * i) % 20 if i < 10 else (2 * (i - 10) + 1) % 20], ls="-",
                                lw=2.2 if name == "attention_ipop" else 1.5)
            i += 1
    return styles


@figure("fig_compare_ecdf")
def fig_compare_ecdf(runs: pd.DataFrame, histories: dict) -> plt.Figure:
    """COCO-style runtime ECDFs, one row per dimension and one panel per problem plus one pooling
    them: the fraction of (run, target) pairs, targets f - f* = 10^2 ... 10^-8, solved within a
    number of evaluations. Outside baselines dashed; x marks the end of the budget."""
    require(runs, ["landscape", "optimizer", "dimension", "f_opt", "run_dir"], "fig_compare_ecdf")
    runs = runs[runs["run_dir"].isin(histories.keys()) & pd.to_numeric(runs["f_opt"], errors="coerce").notna()]
    if runs.empty or "landscape.rotate" not in runs.columns:
        raise NotApplicable("fig_compare_ecdf needs runs of the compare presets, with histories")
    runs = with_problem(runs)
    dims = sorted(runs["dimension"].astype(int).unique())
    problems = _problem_order(runs["problem"])
    opts = _optimizer_order(runs["optimizer"])
    styles = _styles(opts)
    times = _runtimes(runs, histories, ECDF_TARGETS)
    budget = (runs["run_dir"].map(lambda d: float((histories[d]["f_evals"] + histories[d]["g_evals"]).iloc[-1]))
              .to_numpy())
    max_budget = float(np.nanmax(budget)) if len(budget) else 1.0
    panels = problems + ["all problems"]
    # tall enough for the legend (one line per optimizer) even with a single row of panels
    height = max(2.5 * len(dims) + 0.9, 0.25 * len(opts) + 1.0)
    fig, axes = plt.subplots(len(dims), len(panels), figsize=(2.55 * len(panels) + 2.4, height),
                             sharex=True, sharey=True, squeeze=False)
    dim_col = runs["dimension"].astype(int).to_numpy()
    prob_col, opt_col = runs["problem"].to_numpy(), runs["optimizer"].to_numpy()
    for r, dim in enumerate(dims):
        for c, panel in enumerate(panels):
            ax = axes[r, c]
            in_panel = (dim_col == dim) & ((prob_col == panel) | (panel == "all problems"))
            for opt in opts:
                sel = in_panel & (opt_col == opt)
                if not sel.any():
                    continue
                t = times[sel].ravel()
                solved = np.sort(t[np.isfinite(t)])
                frac = np.arange(1, solved.size + 1) / t.size
                end = float(np.max(budget[sel]))
                xs = np.concatenate([[1.0], np.maximum(solved, 1.0), [end]])
                ys = np.concatenate([[0.0], frac, [frac[-1] if frac.size else 0.0]])
                ax.step(xs, ys, where="post", **styles[opt])
                ax.plot([end], [ys[-1]], marker="x", ms=5, color=styles[opt]["color"])
            n = int(in_panel.sum() // max(1, len(opts)))
            ax.set_title(f"{panel}, D={dim}" + (f" ({n} seeds)" if panel != "all problems" else ""), fontsize=9)
            ax.set_xscale("log")
            ax.set_xlim(1, max_budget * 2)
            ax.set_ylim(-0.02, 1.02)
            ax.grid(True, which="major", alpha=0.3)
            if r == len(dims) - 1:
                ax.set_xlabel("evaluations (f + grad)", fontsize=9)
            if c == 0:
                ax.set_ylabel("fraction of\n(run, target) pairs", fontsize=9)
            ax.tick_params(labelsize=8)
    handles = [Line2D([], [], **styles[o], label=o + (" (baseline)" if o in BASELINES else "")) for o in opts]
    fig.legend(handles=handles, loc="center left", bbox_to_anchor=(1.0 - 2.3 / fig.get_figwidth(), 0.5),
               frameon=False, fontsize=9)
    fig.suptitle(f"Runtime ECDF: {len(ECDF_TARGETS)} targets f - f* from 1e2 to 1e-8, budget "
                 f"{max_budget:,.0f} evaluations (x: end of budget)", fontsize=11)
    fig.tight_layout(rect=(0, 0, 1.0 - 2.4 / fig.get_figwidth(), 0.97))
    return fig


__all__ = ["compare", "fig_compare_ecdf", "with_problem"]
