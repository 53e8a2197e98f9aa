"""Tables built from loaded runs (one row per run in ``runs``; see :func:`attnopt.report.load_runs`)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from attnopt.report.markdown import fraction, mean_std, median_iqr, number
from attnopt.report.registry import NotApplicable, table

#: a run succeeds when the best loss it ever evaluated is within this of the known optimum
SUCCESS_TOL = 1e-8
KEYS = ["landscape", "dimension", "optimizer"]


def gap_to_optimum(runs: pd.DataFrame, column: str = "best_loss") -> pd.Series:
    """``column - f_opt`` per run; NaN where the optimum is unknown."""
    f_opt = pd.to_numeric(runs.get("f_opt", pd.Series(np.nan, index=runs.index)), errors="coerce")
    return pd.to_numeric(runs[column], errors="coerce") - f_opt


def require(runs: pd.DataFrame, columns: list[str], name: str) -> None:
    missing = [c for c in columns if c not in runs.columns]
    if missing:
        raise NotApplicable(f"{name} needs columns {missing}, which these runs lack")


@table("table1")
def table1(runs: pd.DataFrame, histories: dict) -> pd.DataFrame:
    """Report Table 1, over seeds: per landscape x dimension x optimizer, the final loss (mean, std,
    median), the success rate (best loss <= f_opt + 1e-8), evaluations and wall time.

    ``final_loss`` is the loss of the last iterate, as in the report; success uses the best point
    ever evaluated, as COCO does (an optimizer that found the optimum and moved on still found it).
    """
    require(runs, KEYS + ["final_loss", "best_loss", "iters", "f_evals", "g_evals", "time_s"], "table1")
    frame = runs.assign(
        final_loss=pd.to_numeric(runs["final_loss"], errors="coerce"),
        _success=np.where(gap_to_optimum(runs).notna(), gap_to_optimum(runs) <= SUCCESS_TOL, np.nan),
        _evals=runs["f_evals"] + runs["g_evals"],
    )
    grouped = frame.groupby(KEYS, sort=True)
    out = grouped.agg(
        seeds=("final_loss", "size"),
        final_loss_mean=("final_loss", "mean"),
        final_loss_std=("final_loss", "std"),
        final_loss_median=("final_loss", "median"),
        success_rate=("_success", "mean"),
        evals_mean=("_evals", "mean"),
        iters_mean=("iters", "mean"),
        time_s_mean=("time_s", "mean"),
    ).reset_index()
    out["dimension"] = out["dimension"].astype(int)
    known = frame["_success"].notna().groupby([frame[k] for k in KEYS], sort=True).sum().to_numpy()
    # a count, written as an integer; blank (not 0) where f* is unknown
    successes = pd.array(np.round(out["success_rate"].fillna(0) * out["seeds"]).astype(int), dtype="Int64")
    successes[known == 0] = pd.NA
    out.insert(out.columns.get_loc("success_rate"), "successes", successes)
    q = grouped["final_loss"].quantile([0.25, 0.75]).unstack()
    out.attrs["markdown"] = pd.DataFrame({
        "landscape": out["landscape"], "d": out["dimension"], "optimizer": out["optimizer"],
        "seeds": out["seeds"],
        "final loss: median [IQR]": [median_iqr(m, a, b) for m, a, b in
                                     zip(out["final_loss_median"], q[0.25].to_numpy(), q[0.75].to_numpy())],
        "final loss: mean ± std": [mean_std(m, sd) for m, sd in zip(out["final_loss_mean"], out["final_loss_std"])],
        "success": [fraction(k, n) if k is not pd.NA else "" for k, n in zip(out["successes"], out["seeds"])],
        "evaluations (mean)": [number(round(v)) for v in out["evals_mean"]],
        "iterations (mean)": [number(round(v)) for v in out["iters_mean"]],
        "time (s, mean)": [number(v) for v in out["time_s_mean"]],
    })
    out.attrs["legend"] = ("final loss: loss of the last iterate over seeds; success: seeds whose best evaluated "
                           f"loss came within {SUCCESS_TOL:g} of f* / seeds (blank where f* is unknown); "
                           "evaluations: f + grad per run.")
    return out


def summarize_search(results: pd.DataFrame) -> pd.DataFrame:
    """Report Table 3 (`attnopt hpo`'s results.csv): per method, medians over seeds (and the
    regret's inter-quartile range). Here, not in attnopt.hpo, so that the report reads it without
    importing the landscapes and optimizers that hpo runs."""
    g = results.groupby("method", sort=False)
    q = lambda p: (lambda s: s.quantile(p))  # noqa: E731
    out = g.agg(best_lr=("best_lr", "median"), min_val_loss=("min_val_loss", "median"),
                regret=("regret", "median"), regret_q25=("regret", q(0.25)), regret_q75=("regret", q(0.75)),
                evals=("evals", "median"), time_s=("time_s", "median"), seeds=("seed", "nunique")).reset_index()
    out["evals"] = out["evals"].astype(int)
    out.attrs["markdown"] = pd.DataFrame({
        "method": out["method"], "best lr": [number(v) for v in out["best_lr"]],
        "min validation loss": [number(v) for v in out["min_val_loss"]],
        "regret: median [IQR]": [median_iqr(m, a, b) for m, a, b in
                                 zip(out["regret"], out["regret_q25"], out["regret_q75"])],
        "trainings": out["evals"], "time (s)": [number(v) for v in out["time_s"]], "seeds": out["seeds"]})
    out.attrs["legend"] = ("Medians over seeds. best lr: the rate each method answered with; min validation loss: its "
                           "validation loss; regret: that minus the dense reference grid's; trainings: evaluations "
                           "of the validation loss the search used; time: wall time of the search.")
    return out


__all__ = ["summarize_search", "table1", "gap_to_optimum", "require", "SUCCESS_TOL"]
