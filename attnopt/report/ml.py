"""Report Tables 2-3 and Figures 2-3 (sections 2.5.1-2.5.3, 2.5.5), from the experiment directories
that `python -m attnopt.experiments.ml table2|fig2|fig3|table3` (`make table2 ...`) writes.

The plain functions take loaded runs (``table2``, ``fig2``, ``fig3``) or the learning-rate search's
result tables (``fig_hpo``); the registered ones take an experiment's directory, so `attnopt report`
and the make targets build the same files from the same inputs.
"""
from __future__ import annotations

import math
from typing import Optional

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from attnopt.report.curves import median_band  # noqa: E402
from attnopt.report.experiment import ExperimentResults  # noqa: E402
from attnopt.report.markdown import number  # noqa: E402
from attnopt.report.registry import figure, table  # noqa: E402
from attnopt.report.tables import summarize_search  # noqa: E402

# --- Table 2 ------------------------------------------------------------------------------------


def _nice_ceiling(x: float, digits: int = 2) -> float:
    """x rounded up to ``digits`` significant digits (0.51234 -> 0.52)."""
    if not math.isfinite(x) or x <= 0:
        return x
    scale = 10.0 ** (math.floor(math.log10(x)) - digits + 1)
    return math.ceil(x / scale - 1e-9) * scale


def auto_target(runs: pd.DataFrame, histories: dict) -> float:
    """The highest lowest-training-loss of any run, rounded up to 2 significant digits: a loss
    every run of every method reaches, so times to target are finite and comparable."""
    return _nice_ceiling(max(float(histories[d]["loss"].min()) for d in runs["run_dir"]))


def table2(runs: pd.DataFrame, histories: dict, target: Optional[float] = None) -> pd.DataFrame:
    """Report Table 2, per optimizer, medians over seeds. Per-iteration costs exclude the initial
    evaluation; "to target" is the first iteration whose iterate's training loss is <= target
    (with a given target, runs that never get there count as infinitely slow: a median is inf when
    half of them never do)."""
    target = auto_target(runs, histories) if target is None else float(target)
    rows = []
    for run in runs.itertuples(index=False):
        h = histories[run.run_dir]
        it = max(int(run.iters), 1)
        hit = np.flatnonzero(h["loss"].to_numpy(float) <= target)
        first = int(hit[0]) if hit.size else None
        rows.append({
            "optimizer": run.optimizer,
            "time_per_iter_ms": 1e3 * (h["time_s"].iloc[-1] - h["time_s"].iloc[0]) / it,
            "f_evals_per_iter": (h["f_evals"].iloc[-1] - h["f_evals"].iloc[0]) / it,
            "g_evals_per_iter": (h["g_evals"].iloc[-1] - h["g_evals"].iloc[0]) / it,
            "reached": first is not None,
            "iters_to_target": h["iter"].iloc[first] if first is not None else np.inf,
            "evals_to_target": (h["f_evals"] + h["g_evals"]).iloc[first] if first is not None else np.inf,
            "time_to_target_s": h["time_s"].iloc[first] if first is not None else np.inf,
            "final_train_loss": run.final_loss,
            "final_val_loss": run.val_loss,
            "final_val_accuracy": getattr(run, "val_accuracy", np.nan),
        })
    per_run = pd.DataFrame(rows)
    g = per_run.groupby("optimizer", sort=False)
    out = g.median(numeric_only=True).drop(columns="reached")
    out.insert(0, "seeds", g.size())
    out.insert(1, "target", target)
    out.insert(2, "reached", g["reached"].sum().astype(int).astype(str) + "/" + g.size().astype(str))
    out = out.reset_index()

    def per_iter(f, g) -> str:
        return " + ".join(p for p in (f"{number(f)} f" if f else "", f"{number(g)} grad" if g else "") if p) or "0"

    out.attrs["markdown"] = pd.DataFrame({
        "optimizer": out["optimizer"], "seeds": out["seeds"], "target": [number(v) for v in out["target"]],
        "reached": out["reached"], "time / iteration (ms)": [number(v) for v in out["time_per_iter_ms"]],
        "evaluations / iteration": [per_iter(f, g) for f, g in zip(out["f_evals_per_iter"], out["g_evals_per_iter"])],
        "iterations to target": [number(v) for v in out["iters_to_target"]],
        "evaluations to target": [number(v) for v in out["evals_to_target"]],
        "time to target (s)": [number(v) for v in out["time_to_target_s"]],
        "final training loss": [number(v) for v in out["final_train_loss"]],
        "final validation loss": [number(v) for v in out["final_val_loss"]],
        "final validation accuracy": [number(v) for v in out["final_val_accuracy"]]})
    out.attrs["legend"] = ("Medians over seeds. reached: runs whose iterate's training loss got to the target / runs; "
                           "... to target: iterations, evaluations (f + grad) and seconds until it did; per-iteration "
                           "costs leave out the initial evaluation; times vary with the machine's load.")
    return out


# --- figures ------------------------------------------------------------------------------------

COLORS = {"gd": "tab:blue", "attention": "tab:orange", "attention_explore": "tab:red"}
#: Figure 2's loss axis stops here: GD reaches the least-squares optimum to rounding
CLIP = 1e-14
LABELS = {"gd": "GD (backprop)", "attention": "attention search", "attention_explore": "enhanced attention search"}


def fig2(runs: pd.DataFrame, histories: dict):
    """Training loss of linear and logistic regression, GD vs attention search, median and IQR
    over seeds, against iterations (left) and evaluations (right)."""
    tasks = [t for t in ("linreg", "logreg") if t in set(runs["landscape"])]
    fig, axes = plt.subplots(len(tasks), 2, figsize=(11, 3.8 * len(tasks)), squeeze=False)
    for row, task in zip(axes, tasks):
        sub = runs[runs["landscape"] == task]
        f_opt = pd.to_numeric(sub["f_opt"], errors="coerce")
        shift = float(f_opt.iloc[0]) if f_opt.notna().all() else 0.0
        for opt, grp in sub.groupby("optimizer", sort=False):
            hs = [histories[d] for d in grp["run_dir"]]
            for ax, x in zip(row, ("iter", "evals")):
                median_band(ax, hs, x, "loss", LABELS.get(opt, opt), shift=shift, color=COLORS.get(opt),
                            band=len(hs) > 1)
        data = sub["landscape.dataset"].iloc[0] if "landscape.dataset" in sub else ""
        what = "linear regression (MSE)" if task == "linreg" else "logistic regression (BCE)"
        for ax, xlabel in zip(row, ("iteration", "evaluations (function + gradient)")):
            ax.set_yscale("log")
            ax.set_xlabel(xlabel)
            ax.set_ylabel("training loss − f*" if shift else "training loss")
            ax.set_title(f"{what}, {data}, d={int(sub['dimension'].iloc[0])}")
            ax.grid(True, which="both", alpha=0.3)
            if shift:  # GD reaches the least-squares optimum to rounding; show down to there, not below
                ax.set_ylim(bottom=CLIP)
                ax.text(0.99, 0.02, f"axis cut at {CLIP:g}: below it is rounding error", transform=ax.transAxes,
                        ha="right", va="bottom", fontsize=8, color="0.35")
        row[1].set_xscale("log")
        row[0].legend()
    seeds = runs.groupby(["landscape", "optimizer"]).size()
    n = f"{seeds.min()}" if seeds.min() == seeds.max() else f"{seeds.min()}-{seeds.max()}"
    spread = f"median and IQR band over {n} seeds" if seeds.max() > 1 else "one run each"
    fig.suptitle(f"Figure 2: gradient descent vs attention search ({spread})")
    fig.tight_layout()
    return fig


def fig3(runs: pd.DataFrame, histories: dict):
    """Final training and validation loss and time per iteration against the number of parameters,
    logistic regression on generated data; median with bars over seeds (inter-quartile range from 4
    seeds on, else the whole range, which is what 2 or 3 seeds can show). The evaluations per
    iteration do not change with the dimension, so they are in the legend, not a panel."""
    per_run = runs.assign(
        time_ms=[1e3 * (histories[d]["time_s"].iloc[-1] - histories[d]["time_s"].iloc[0]) / max(i, 1)
                 for d, i in zip(runs["run_dir"], runs["iters"])],
        f_per_iter=[(histories[d]["f_evals"].iloc[-1] - histories[d]["f_evals"].iloc[0]) / max(i, 1)
                    for d, i in zip(runs["run_dir"], runs["iters"])],
        g_per_iter=[(histories[d]["g_evals"].iloc[-1] - histories[d]["g_evals"].iloc[0]) / max(i, 1)
                    for d, i in zip(runs["run_dir"], runs["iters"])],
    )
    seeds = int(runs.groupby(["optimizer", "dimension"]).size().min())
    iqr = seeds >= 4
    lo_q, hi_q = (0.25, 0.75) if iqr else (0.0, 1.0)
    panels = [("final_loss", "final training loss"), ("val_loss", "final validation loss"),
              ("time_ms", "time per iteration (ms)")]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.6))
    iters = int(runs["iters"].median())
    for ax, (col, label) in zip(axes, panels):
        for opt, grp in per_run.groupby("optimizer", sort=False):
            stats = grp.groupby("dimension")[col].quantile([lo_q, 0.5, hi_q]).unstack()
            d = stats.index.to_numpy(float)
            f, g = float(grp["f_per_iter"].median()), float(grp["g_per_iter"].median())
            cost = f"{f:.0f} f" + (f" + {g:.0f} grad" if g else "")
            ax.errorbar(d, stats[0.5], yerr=[stats[0.5] - stats[lo_q], stats[hi_q] - stats[0.5]], marker="o",
                        capsize=3, color=COLORS.get(opt), label=f"{LABELS.get(opt, opt)} ({cost} per iteration)")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("parameters (features + 1)")
        ax.set_ylabel(label)
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend(fontsize=8)
    bars = "IQR bars" if iqr else "bars: min to max"
    fig.suptitle(f"Figure 3: logistic regression on generated data as the dimension grows "
                 f"({iters} iterations; median, {bars} over {seeds} seed{'s' if seeds != 1 else ''})")
    fig.tight_layout()
    return fig


HPO_COLORS = {"grid": "tab:green", "random": "tab:gray", "attention": "tab:orange", "tpe": "tab:purple"}
CHOICE_MARKERS = ["*", "D", "^", "s", "v", "P"]


def fig_hpo(results: pd.DataFrame, trials: pd.DataFrame, seed: int = 0):
    """What Table 3 measured: left, one seed's validation loss against the learning rate (the
    reference grid), every rate each method tried and the one it chose; right, each method's regret
    on every seed."""
    methods = list(results["method"].unique())
    fig = plt.figure(figsize=(12.5, 5.2))
    gs = fig.add_gridspec(2, 2, height_ratios=[3, 1.2], width_ratios=[1.5, 1], hspace=0.08)
    curve_ax = fig.add_subplot(gs[0, 0])
    strip_ax = fig.add_subplot(gs[1, 0], sharex=curve_ax)
    right = fig.add_subplot(gs[:, 1])
    ref = trials[(trials["method"] == "reference") & (trials["seed"] == seed)]
    finite = ref["val_loss"][np.isfinite(ref["val_loss"])]
    if len(finite):
        curve_ax.plot(ref["lr"], ref["val_loss"], color="black", lw=1.2, label="validation loss (reference grid)")
        curve_ax.set_ylim(0.9 * finite.min(), min(finite.max(), 4 * finite.min()) * 1.05)  # room for the markers
    for k, m in enumerate(methods):
        tried = trials[(trials["method"] == m) & (trials["seed"] == seed)]
        strip_ax.scatter(tried["lr"], np.full(len(tried), k), marker="|", s=150, color=HPO_COLORS.get(m))
        chosen = results[(results["method"] == m) & (results["seed"] == seed)]
        # Methods often choose (nearly) the same rate: a marker of its own and a size that shrinks
        # from method to method, so markers on one point nest instead of hiding each other.
        curve_ax.scatter(chosen["best_lr"], chosen["min_val_loss"], marker=CHOICE_MARKERS[k % len(CHOICE_MARKERS)],
                         s=max(260 - 60 * k, 40), color=HPO_COLORS.get(m), edgecolor="black", linewidth=0.6,
                         zorder=5 + k, label=f"{m}'s choice")
        strip_ax.scatter(chosen["best_lr"], [k], marker=CHOICE_MARKERS[k % len(CHOICE_MARKERS)], s=110,
                         color=HPO_COLORS.get(m), edgecolor="black",
                         linewidth=0.5, zorder=5)
    curve_ax.set_xscale("log")
    curve_ax.set_ylabel("validation loss")
    curve_ax.set_title(f"seed {seed}: loss after the GD steps against the rate (right of the wall: diverged)",
                       fontsize=10)
    curve_ax.grid(True, which="both", alpha=0.3)
    curve_ax.legend(fontsize=8, loc="upper right")
    plt.setp(curve_ax.get_xticklabels(), visible=False)
    strip_ax.set_yticks(range(len(methods)), methods)
    strip_ax.set_ylim(len(methods) - 0.5, -0.5)
    strip_ax.set_xlabel("learning rate (ticks: rates each method tried)")
    strip_ax.grid(True, which="both", axis="x", alpha=0.3)
    positive = results["regret"][results["regret"] > 0]
    floor = max(float(positive.min()) if len(positive) else 1e-12, 1e-12)
    for k, m in enumerate(methods):
        r = results.loc[results["method"] == m, "regret"].clip(lower=floor).to_numpy()
        jitter = np.random.default_rng(k).uniform(-0.15, 0.15, len(r))
        right.scatter(np.full(len(r), k) + jitter, r, color=HPO_COLORS.get(m), alpha=0.8)
        right.hlines(np.median(r), k - 0.3, k + 0.3, color="black", lw=2)
    right.set_yscale("log")
    right.set_xticks(range(len(methods)), methods)
    right.set_ylabel("regret (min val loss - reference grid's)")
    right.set_title(f"all {results['seed'].nunique()} seeds, bar = median, "
                    f"{int(results['evals'].median())} evaluations each", fontsize=10)
    right.grid(True, which="both", axis="y", alpha=0.3)
    fig.suptitle("Table 3: learning-rate search with equal budgets")
    fig.subplots_adjust(left=0.07, right=0.98, bottom=0.11, top=0.88, wspace=0.25)
    return fig


# --- what `attnopt report` builds from the experiment directories ---------------------------------
#: result files of the learning-rate search (Table 3), listed in its experiment.json
HPO_RESULTS, HPO_TRIALS = "results.csv", "trials.csv"


@table("table2", experiment="table2")
def table2_of(results: ExperimentResults) -> pd.DataFrame:
    """Table 2 at the target the experiment was run with (None: the automatic one)."""
    return table2(results.runs, results.histories, results.settings.get("target"))


@figure("fig2", experiment="fig2")
def fig2_of(results: ExperimentResults) -> plt.Figure:
    """Report Figure 2: training loss of linear and logistic regression, GD vs attention search, against iterations and evaluations."""
    return fig2(results.runs, results.histories)


@figure("fig3", experiment="fig3")
def fig3_of(results: ExperimentResults) -> plt.Figure:
    """Report Figure 3: final training and validation loss and time per iteration against the number of parameters."""
    return fig3(results.runs, results.histories)


@table("table3", experiment="table3")
def table3_of(results: ExperimentResults) -> pd.DataFrame:
    """Table 3: `attnopt hpo`'s summary of the search results, medians over seeds."""
    return summarize_search(pd.read_csv(results.file(HPO_RESULTS)))


@figure("table3_search", experiment="table3")
def table3_search_of(results: ExperimentResults) -> plt.Figure:
    """What Table 3 measured: the validation loss against the learning rate, the rates each method tried and chose, each method's regret."""
    return fig_hpo(pd.read_csv(results.file(HPO_RESULTS)), pd.read_csv(results.file(HPO_TRIALS)))


__all__ = ["table2", "auto_target", "fig2", "fig3", "fig_hpo", "table2_of", "fig2_of", "fig3_of", "table3_of",
           "table3_search_of", "HPO_RESULTS", "HPO_TRIALS"]
