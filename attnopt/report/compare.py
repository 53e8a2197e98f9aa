"""The comparison with outside baselines (conf/experiment/compare*.yaml, `make compare`):
table ``compare`` and figure ``fig_compare_ecdf``.

A *problem* is a landscape at a dimension, plain or rotated + shifted (``landscape.rotate`` in the
run's config), so "rastrigin" and "rastrigin (rotate, shift)" are counted apart. Success is judged on the
best point a run ever evaluated, as COCO does: best_loss - f_opt <= 1e-2 and <= 1e-8. Runtimes to
those targets come from the histories by :func:`attnopt.report.ecdf.runtimes`, the rule the ECDFs
and the ERT table use.
"""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from attnopt.report.ecdf import ecdf_figure, runtimes  # noqa: E402
from attnopt.report.markdown import fraction, number  # noqa: E402
from attnopt.report.registry import NotApplicable, figure, table  # noqa: E402
from attnopt.report.style import ordered_landscapes  # noqa: E402
from attnopt.report.tables import gap_to_optimum, require  # noqa: E402

TARGETS = (1e-2, 1e-8)
#: the attnopt optimizers first, then the outside baselines (drawn dashed)
ORDER = ["attention_cma", "hybrid_cma", "attention_ipop", "attention", "attention_explore", "hybrid1", "hybrid2",
         "hybrid3", "hybrid4", "gd", "sgd", "adam", "learned"]
BASELINES = ["cma", "dual_annealing", "basinhopping"]


def with_problem(runs: pd.DataFrame) -> pd.DataFrame:
    """``runs`` plus a ``problem`` column: the landscape as loaded, whose label already says
    "(rotate, shift)" and any other setting that tells its runs apart
    (:func:`attnopt.report.label_variants`)."""
    return runs.assign(problem=runs["landscape"].astype(str))


def compare_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """The runs of the compare presets, whichever optimizers they hold (attnopt's own alone, as in
    `make compare ARGS="optimizer=gd"`, or with the baselines): both presets set the
    landscape.rotate key, which other experiments of a tree leave unset, on landscapes with a
    known optimum."""
    if "landscape.rotate" not in runs.columns:
        return runs.iloc[:0]
    return runs[runs["landscape.rotate"].notna() & pd.to_numeric(runs["f_opt"], errors="coerce").notna()]


def _optimizer_order(names) -> list[str]:
    present = set(names)
    known = [n for n in ORDER + BASELINES if n in present]
    return known + sorted(present - set(known))


#: the second accounting the table reports: a gradient costs this many function evaluations
#: (reverse-mode autodiff's usual bound is a small constant times a function evaluation)
GRAD_COST = 2


def _runtimes(runs: pd.DataFrame, histories: dict, targets, grad_cost: float = 1) -> np.ndarray:
    """(runs, targets) evaluations to reach each target, a gradient counting ``grad_cost``
    evaluations; inf if never, NaN without a history."""
    out = np.full((len(runs), len(targets)), np.nan)
    for i, (d, f) in enumerate(zip(runs["run_dir"], runs["f_opt"])):
        if d in histories:
            out[i] = runtimes(histories[d], targets, f_opt=float(f), grad_cost=grad_cost)
    return out


@table("compare")
def compare(runs: pd.DataFrame, histories: dict) -> pd.DataFrame:
    """Per dimension x problem x optimizer over seeds: runs solved to f - f* <= 1e-2 and <= 1e-8,
    the median evaluations to each (over the runs that got there; ``..._grad2``: the same with a
    gradient counted as two evaluations), the median final f - f* of the best point and the median
    wall time of a run; ``final_iterate_gap_median``: the same gap for the run's last iterate."""
    require(runs, ["landscape", "optimizer", "dimension", "f_opt", "best_loss", "time_s", "run_dir"], "compare")
    runs = with_problem(compare_runs(runs))
    if runs.empty:
        raise NotApplicable("compare needs runs of the compare presets (landscapes with a known optimum and the "
                            "landscape.rotate key they sweep)")
    gap = gap_to_optimum(runs).to_numpy(float)
    # the final iterate's gap too: a restarting optimizer's last iterate can be far from its best point
    final_gap = (gap_to_optimum(runs, "final_loss").to_numpy(float) if "final_loss" in runs.columns
                 else np.full(len(runs), np.nan))
    times = _runtimes(runs, histories, TARGETS)
    times_g2 = _runtimes(runs, histories, TARGETS[1:], grad_cost=GRAD_COST)
    frame = runs.assign(_gap=gap, _final_gap=final_gap, _t2=times[:, 0], _t8=times[:, 1], _t8g2=times_g2[:, 0])
    rows = []
    for (dim, problem, opt), g in frame.groupby(["dimension", "problem", "optimizer"], sort=False):
        solved2, solved8 = g["_gap"] <= TARGETS[0], g["_gap"] <= TARGETS[1]
        rows.append({
            "dimension": int(dim), "problem": problem, "optimizer": opt, "runs": len(g),
            "solved_1e-2": int(solved2.sum()), "solved_1e-8": int(solved8.sum()),
            "evals_to_1e-2_median": float(np.median(g.loc[solved2, "_t2"])) if solved2.any() else np.nan,
            "evals_to_1e-8_median": float(np.median(g.loc[solved8, "_t8"])) if solved8.any() else np.nan,
            f"evals_to_1e-8_median_grad{GRAD_COST}": (float(np.median(g.loc[solved8, "_t8g2"])) if solved8.any()
                                                      else np.nan),
            "final_gap_median": float(np.median(g["_gap"])),
            "final_iterate_gap_median": float(np.median(g["_final_gap"])),
            "time_s_median": float(np.median(pd.to_numeric(g["time_s"]))),
        })
    out = pd.DataFrame(rows)
    problems, opts = ordered_landscapes(out["problem"]), _optimizer_order(out["optimizer"])
    out = out.assign(_p=out["problem"].map(problems.index), _o=out["optimizer"].map(opts.index))
    out = out.sort_values(["dimension", "_p", "_o"]).drop(columns=["_p", "_o"]).reset_index(drop=True)
    out.attrs["markdown"] = pd.DataFrame({
        "dimension": out["dimension"], "problem": out["problem"], "optimizer": out["optimizer"],
        "solved to 1e-2": [fraction(k, n) for k, n in zip(out["solved_1e-2"], out["runs"])],
        "solved to 1e-8": [fraction(k, n) for k, n in zip(out["solved_1e-8"], out["runs"])],
        "evals to 1e-2 (median)": [number(round(v)) if np.isfinite(v) else "" for v in out["evals_to_1e-2_median"]],
        "evals to 1e-8 (median)": [number(round(v)) if np.isfinite(v) else "" for v in out["evals_to_1e-8_median"]],
        f"evals to 1e-8 with grad = {GRAD_COST} (median)": [number(round(v)) if np.isfinite(v) else ""
                                                        for v in out[f"evals_to_1e-8_median_grad{GRAD_COST}"]],
        "final f - f* (median)": [number(v) for v in out["final_gap_median"]],
        "last iterate's f - f* (median)": [number(v) for v in out["final_iterate_gap_median"]],
        "time (s, median)": [number(v) for v in out["time_s_median"]],
    })
    out.attrs["legend"] = ("solved: runs whose best evaluated point came within 1e-2 / 1e-8 of f* / runs; evals to: "
                           "median evaluations (f + grad) of the runs that got there (grad = 2: a gradient "
                           "counted as two evaluations); final f - f*: of the best point, median over runs; last "
                           "iterate's: of the run's final iterate; time: wall time of a run.")
    return out


@figure("fig_compare_ecdf")
def fig_compare_ecdf(runs: pd.DataFrame, histories: dict) -> plt.Figure:
    """Runtime ECDFs per dimension (as fig_ecdf draws them) of the compare presets' runs: problems
    plain and rotated + shifted, attnopt's optimizers and the outside baselines, whichever ran."""
    require(runs, ["landscape", "optimizer", "dimension", "f_opt", "run_dir"], "fig_compare_ecdf")
    runs = compare_runs(runs[runs["run_dir"].isin(histories.keys())])
    if runs.empty:
        raise NotApplicable("fig_compare_ecdf needs runs of the compare presets (landscapes with a known optimum "
                            "and the landscape.rotate key they sweep), with histories")
    return ecdf_figure(runs, histories)


__all__ = ["compare", "compare_runs", "fig_compare_ecdf", "with_problem"]
