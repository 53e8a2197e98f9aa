"""The report's machine-learning results (sections 2.5.1-2.5.3, 2.5.5): Table 2, Figures 2 and 3,
Table 3.

    python -m attnopt.experiments.ml table2|fig2|fig3|table3 [--scale full|small] [--out outputs/report]

One mechanism serves the three run-based results: an experiment is a list of tasks x methods x
seeds; each job is composed from the same configs `attnopt run` uses, validated by
:func:`attnopt.app.build` and written as an ordinary run directory by :func:`attnopt.app.execute`
(under ``outputs/ml/<scale>/<experiment>/``); a run whose complete result for the same config is
already on disk is not run again (:mod:`attnopt.sweep`'s config hash). Tables and figures are then
made from the files alone (:func:`attnopt.report.load_runs`). Table 3 runs `attnopt hpo`'s code.

Runs go one after another in this process, so the timings are not disturbed by parallel jobs.
The hyperparameters below were chosen with a short pilot (3 seeds) and are the same for every
seed; they are part of what the tables measure.
"""
from __future__ import annotations

import argparse
import contextlib
import io as _io
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np
import pandas as pd

from attnopt.errors import ConfigError


@dataclass(frozen=True)
class Task:
    landscape: str
    dimension: int
    params: dict = field(default_factory=dict)  # landscape.* overrides


@dataclass(frozen=True)
class Experiment:
    tasks: tuple[Task, ...]
    methods: dict  # optimizer name -> {param: value}; one method per optimizer
    seeds: int
    iters: int


# --- the experiments ----------------------------------------------------------------------------

# 10 generated features (half informative, 10% of labels flipped), 16 hidden units, 1,600 training
# samples: enough that 300 iterations do not just overfit (with 400, validation loss climbs early)
MLP = Task("mlp", 193, {"n_samples": 2000, "noise": 0.1})
TABLE2_METHODS = {"gd": {"lr": 1.0}, "attention": {"n_trials": 20, "sigma": 0.03, "beta": 1000.0}}
FIG2_TASKS = (Task("linreg", 11), Task("logreg", 31))
# per task: gd's rate and attention's sigma/beta differ (the loss scales differ); see FIG2_METHODS
FIG2_METHODS = {
    "linreg": {"gd": {"lr": 0.3}, "attention": {"n_trials": 20, "sigma": 0.03, "beta": 100.0}},
    "logreg": {"gd": {"lr": 1.0}, "attention": {"n_trials": 20, "sigma": 0.1, "beta": 100.0}},
}
FIG3_METHODS = {"gd": {"lr": 0.5},
                "attention_explore": {"n_exploit": 48, "sigma_exploit": 0.03, "n_explore": 16, "sigma_explore": 0.3,
                                      "beta": 100.0}}


def fig3_tasks(features) -> tuple[Task, ...]:
    return tuple(Task("logreg", n + 1, {"dataset": "synthetic", "n_features": n}) for n in features)


def experiments(scale: str) -> dict[str, list[Experiment]]:
    small = scale == "small"
    seeds = 3 if small else 10
    return {
        "table2": [Experiment((MLP,), TABLE2_METHODS, seeds, 100 if small else 300)],
        "fig2": [Experiment((t,), FIG2_METHODS[t.landscape], seeds, 100 if small else 300) for t in FIG2_TASKS],
        "fig3": [Experiment(fig3_tasks((10, 30, 100) if small else (10, 30, 100, 300, 1000)), FIG3_METHODS,
                            2 if small else 5, 50 if small else 200)],
    }


HPO_OVERRIDES = {"small": ["n_seeds=3", "reference=200"], "full": ["n_seeds=10"]}


# --- running ------------------------------------------------------------------------------------


def jobs_of(exps: list[Experiment]) -> list[tuple[str, tuple[str, ...], dict]]:
    """(run directory name, config-group choices, value overrides) for every run of ``exps``."""
    out = []
    for exp in exps:
        for task in exp.tasks:
            for opt, params in exp.methods.items():
                for seed in range(exp.seeds):
                    values = {"dimension": task.dimension, "seed": seed, "budget.max_iters": exp.iters,
                              "plot": False, "progress": False,
                              **{f"landscape.{k}": v for k, v in task.params.items()},
                              **{f"optimizer.{k}": v for k, v in params.items()}}
                    name = f"{task.landscape}_d{task.dimension}_{opt}_s{seed}"
                    out.append((name, (f"landscape={task.landscape}", f"optimizer={opt}"), values))
    return out


def run_jobs(exps: list[Experiment], root: Path, desc: str, force: bool = False) -> list[Path]:
    """Run every job of ``exps`` into ``root/<name>`` (skipping complete runs of the same config);
    returns the run directories."""
    from hydra import compose, initialize_config_module
    from omegaconf import OmegaConf
    from tqdm.auto import tqdm

    from attnopt.app import build, execute
    from attnopt.sweep import check_complete, clear_results, config_hash

    jobs = jobs_of(exps)
    composed: dict[tuple, object] = {}  # composing costs ~0.2 s; once per choice of groups
    dirs = []
    with initialize_config_module(config_module="attnopt.conf", version_base=None):
        for name, choices, values in tqdm(jobs, desc=desc, unit="run", file=sys.stderr):
            if choices not in composed:
                composed[choices] = compose(config_name="config", overrides=list(choices))
            cfg = composed[choices].copy()
            for key, value in values.items():
                OmegaConf.update(cfg, key, value, merge=False)
            spec = build(cfg)
            run_dir = root / name
            dirs.append(run_dir)
            if not force and check_complete(run_dir, config_hash(spec.config)) is None:
                continue
            clear_results(run_dir)
            with contextlib.redirect_stdout(_io.StringIO()):  # execute's one line per run would bury the bar
                execute(spec, run_dir)
    return dirs


def load(dirs: list[Path]) -> tuple[pd.DataFrame, dict]:
    from attnopt.report import load_runs

    roots = {d.parent for d in dirs}
    frames, histories = [], {}
    for root in roots:
        runs, hist = load_runs(root, with_history=True)
        frames.append(runs)
        histories.update(hist)
    runs = pd.concat(frames, ignore_index=True)
    wanted = {str(d) for d in dirs}  # leave out directories of older, larger presets
    runs = runs[runs["run_dir"].isin(wanted)].reset_index(drop=True)
    return runs, {k: v for k, v in histories.items() if k in wanted}


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
    return out.reset_index()


# --- figures ------------------------------------------------------------------------------------

COLORS = {"gd": "tab:blue", "attention": "tab:orange", "attention_explore": "tab:red"}
LABELS = {"gd": "GD (backprop)", "attention": "attention search", "attention_explore": "enhanced attention search"}


def fig2(runs: pd.DataFrame, histories: dict):
    """Training loss of linear and logistic regression, GD vs attention search, median and IQR
    over seeds, against iterations (left) and evaluations (right)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from attnopt.report import median_band

    tasks = [t for t in ("linreg", "logreg") if t in set(runs["landscape"])]
    fig, axes = plt.subplots(len(tasks), 2, figsize=(11, 3.8 * len(tasks)), squeeze=False)
    for row, task in zip(axes, tasks):
        sub = runs[runs["landscape"] == task]
        f_opt = pd.to_numeric(sub["f_opt"], errors="coerce")
        shift = float(f_opt.iloc[0]) if f_opt.notna().all() else 0.0
        for opt, grp in sub.groupby("optimizer", sort=False):
            hs = [histories[d] for d in grp["run_dir"]]
            for ax, x in zip(row, ("iter", "evals")):
                median_band(ax, hs, x, "loss", f"{LABELS.get(opt, opt)} ({len(hs)} seeds)", shift=shift,
                            color=COLORS.get(opt))
        data = sub["landscape.dataset"].iloc[0] if "landscape.dataset" in sub else ""
        what = "linear regression (MSE)" if task == "linreg" else "logistic regression (BCE)"
        for ax, xlabel in zip(row, ("iteration", "evaluations (function + gradient)")):
            ax.set_yscale("log")
            ax.set_xlabel(xlabel)
            ax.set_ylabel("training loss − f*" if shift else "training loss")
            ax.set_title(f"{what}, {data}, d={int(sub['dimension'].iloc[0])}")
            ax.grid(True, which="both", alpha=0.3)
            if shift:  # GD reaches the least-squares optimum to rounding; show down to there, not below
                ax.set_ylim(bottom=1e-14)
        row[1].set_xscale("log")
        row[0].legend()
    fig.suptitle("Figure 2: gradient descent vs attention search (median, IQR band over seeds)")
    fig.tight_layout()
    return fig


def fig3(runs: pd.DataFrame, histories: dict):
    """Final training and validation loss, time and evaluations per iteration against the number of
    parameters, logistic regression on generated data; median with IQR bars over seeds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    per_run = runs.assign(
        time_ms=[1e3 * (histories[d]["time_s"].iloc[-1] - histories[d]["time_s"].iloc[0]) / max(i, 1)
                 for d, i in zip(runs["run_dir"], runs["iters"])],
        evals_per_iter=[((histories[d]["f_evals"] + histories[d]["g_evals"]).iloc[-1]
                         - (histories[d]["f_evals"] + histories[d]["g_evals"]).iloc[0]) / max(i, 1)
                        for d, i in zip(runs["run_dir"], runs["iters"])],
    )
    panels = [("final_loss", "final training loss", "log"), ("val_loss", "final validation loss", "log"),
              ("time_ms", "time per iteration (ms)", "log"),
              ("evals_per_iter", "evaluations per iteration (function + gradient)", "linear")]
    fig, axes = plt.subplots(2, 2, figsize=(11, 7.5))
    iters = int(runs["iters"].median())
    for ax, (col, label, yscale) in zip(axes.flat, panels):
        for opt, grp in per_run.groupby("optimizer", sort=False):
            stats = grp.groupby("dimension")[col].quantile([0.25, 0.5, 0.75]).unstack()
            d = stats.index.to_numpy(float)
            ax.errorbar(d, stats[0.5], yerr=[stats[0.5] - stats[0.25], stats[0.75] - stats[0.5]], marker="o",
                        capsize=3, color=COLORS.get(opt), label=f"{LABELS.get(opt, opt)}")
        ax.set_xscale("log")
        ax.set_yscale(yscale)
        if yscale == "linear":
            ax.set_ylim(bottom=0)
        ax.set_xlabel("parameters (features + 1)")
        ax.set_ylabel(label)
        ax.grid(True, which="both", alpha=0.3)
    axes[0, 0].legend()
    seeds = int(runs.groupby(["optimizer", "dimension"]).size().min())
    fig.suptitle(f"Figure 3: logistic regression on generated data as the dimension grows "
                 f"({iters} iterations; median, IQR bars over {seeds} seeds)")
    fig.tight_layout()
    return fig


HPO_COLORS = {"grid": "tab:green", "random": "tab:gray", "attention": "tab:orange", "tpe": "tab:purple"}


def fig_hpo(results: pd.DataFrame, trials: pd.DataFrame, seed: int = 0):
    """What Table 3 measured: left, one seed's validation loss against the learning rate (the
    reference grid), every rate each method tried and the one it chose; right, each method's regret
    on every seed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

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
        curve_ax.set_ylim(0.97 * finite.min(), min(finite.max(), 4 * finite.min()) * 1.05)
    for k, m in enumerate(methods):
        tried = trials[(trials["method"] == m) & (trials["seed"] == seed)]
        strip_ax.scatter(tried["lr"], np.full(len(tried), k), marker="|", s=150, color=HPO_COLORS.get(m))
        chosen = results[(results["method"] == m) & (results["seed"] == seed)]
        curve_ax.scatter(chosen["best_lr"], chosen["min_val_loss"], marker="*", s=170, color=HPO_COLORS.get(m),
                         edgecolor="black", linewidth=0.5, zorder=5, label=f"{m}'s choice")
        strip_ax.scatter(chosen["best_lr"], [k], marker="*", s=120, color=HPO_COLORS.get(m), edgecolor="black",
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


# --- command line -------------------------------------------------------------------------------


def main(argv: Optional[list[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python -m attnopt.experiments.ml", description=__doc__.splitlines()[0])
    p.add_argument("experiment", choices=["table2", "fig2", "fig3", "table3"])
    p.add_argument("--scale", choices=["full", "small"], default="full")
    p.add_argument("--out", default="outputs/report", help="where the table/figure goes")
    p.add_argument("--runs", default="outputs/ml", help="where run directories go (<runs>/<scale>/<experiment>)")
    p.add_argument("--target", type=float, default=None, help="table2: training-loss target (default: auto)")
    p.add_argument("--force", action="store_true", help="rerun runs whose results are already on disk")
    a = p.parse_args(argv)
    out = Path(a.out)
    from attnopt import io
    from attnopt.report import to_markdown, write_table

    try:
        if a.experiment == "table3":
            from attnopt.hpo import run_hpo

            hpo_dir = Path(a.runs) / a.scale / "table3"
            _, results, trials, table = run_hpo(HPO_OVERRIDES[a.scale] + ["progress=true"])
            io.write_csv(hpo_dir / "results.csv", results)
            io.write_csv(hpo_dir / "trials.csv", trials)
            written = write_table(table, out, "table3")
            import matplotlib.pyplot as plt

            fig = fig_hpo(results, trials)
            written = (*written, io.write_figure(out / "table3_search.png", fig))
            plt.close(fig)
            print(to_markdown(table), end="")
        else:
            dirs = run_jobs(experiments(a.scale)[a.experiment], Path(a.runs) / a.scale / a.experiment, a.experiment,
                            a.force)
            runs, histories = load(dirs)
            if a.experiment == "table2":
                table = table2(runs, histories, a.target)
                written = write_table(table, out, "table2")
                print(to_markdown(table), end="")
            else:
                import matplotlib.pyplot as plt

                fig = (fig2 if a.experiment == "fig2" else fig3)(runs, histories)
                written = (io.write_figure(out / f"{a.experiment}.png", fig),)
                plt.close(fig)
    except ConfigError as exc:
        print(f"attnopt: error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {', '.join(map(str, written))}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
