"""Tables built from loaded runs (one row per run in ``runs``; see :func:`attnopt.report.load_runs`)."""
from __future__ import annotations

import numpy as np
import pandas as pd

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
    return out


__all__ = ["table1", "gap_to_optimum", "require", "SUCCESS_TOL"]
