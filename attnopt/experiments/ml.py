"""The report's machine-learning results (sections 2.5.1-2.5.3, 2.5.5): Table 2, Figures 2 and 3,
Table 3.

    python -m attnopt.experiments.ml table2|fig2|fig3|table3 [--scale full|small] [--out outputs/report]

One mechanism serves the three run-based results: an experiment is a list of tasks x methods x
seeds; each job is composed from the same configs `attnopt run` uses, validated by
:func:`attnopt.run.build` and written as an ordinary run directory by :func:`attnopt.run.execute`
(under ``outputs/ml/<scale>/<experiment>/``); a run whose complete result for the same config is
already on disk is not run again (:mod:`attnopt.sweep`'s config hash). Table 3 runs `attnopt hpo`'s
code and writes its result tables there. Each experiment directory ends with an ``experiment.json``
listing what it holds; the tables and figures are then made from those files alone, by the functions
registered in :mod:`attnopt.report.ml` — the same ones `attnopt report` finds through that file.

Runs go one after another in this process, so the timings are not disturbed by parallel jobs.
The hyperparameters below were chosen with a short pilot (3 seeds) and are the same for every
seed; they are part of what the tables measure.
"""
from __future__ import annotations

import argparse
import contextlib
import io as _io
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import pandas as pd

from attnopt.errors import ConfigError
from attnopt.report import ml as report_ml
# the tables and figures live with the other registered ones; importable from here as before
from attnopt.report.ml import _nice_ceiling, auto_target, fig2, fig3, fig_hpo, table2  # noqa: F401


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


def jobs_of(exps: list[Experiment]) -> list[tuple[tuple[str, ...], dict]]:
    """(config-group choices, value overrides) for every run of ``exps``."""
    out = []
    for exp in exps:
        for task in exp.tasks:
            for opt, params in exp.methods.items():
                for seed in range(exp.seeds):
                    values = {"dimension": task.dimension, "seed": seed, "budget.max_iters": exp.iters,
                              "plot": False, "progress": False,
                              **{f"landscape.{k}": v for k, v in task.params.items()},
                              **{f"optimizer.{k}": v for k, v in params.items()}}
                    out.append(((f"landscape={task.landscape}", f"optimizer={opt}"), values))
    return out


def run_jobs(exps: list[Experiment], root: Path, desc: str, force: bool = False) -> list[Path]:
    """Run every job of ``exps`` into ``root``, each in the directory its config names
    (:func:`attnopt.rundir.run_name`, as a sweep's jobs are), a complete run of the same config
    anywhere under ``root`` being reused unless ``force`` (:func:`attnopt.rundir.claim`, as a
    sweep resumes); returns the run directories."""
    from hydra import compose, initialize_config_module
    from omegaconf import OmegaConf
    from tqdm.auto import tqdm

    from attnopt.run import build, execute
    from attnopt import rundir

    jobs = jobs_of(exps)
    composed: dict[tuple, object] = {}  # composing costs ~0.2 s; once per choice of groups
    dirs = []
    with initialize_config_module(config_module="attnopt.conf", version_base=None):
        for choices, values in tqdm(jobs, desc=desc, unit="run", file=sys.stderr):
            if choices not in composed:
                composed[choices] = compose(config_name="config", overrides=list(choices))
            cfg = composed[choices].copy()
            for key, value in values.items():
                OmegaConf.update(cfg, key, value, merge=False)
            spec = build(cfg)
            found = rundir.claim(root / rundir.run_name(spec.config), spec.config, root, resume=not force)
            if found.note:
                tqdm.write(f"attnopt: warning: {found.note}", file=sys.stderr)
            dirs.append(found.dir)
            if found.complete:
                continue
            with contextlib.redirect_stdout(_io.StringIO()):  # execute's one line per run would bury the bar
                execute(spec, found.dir)
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


# --- command line -------------------------------------------------------------------------------


def run_experiment(name: str, scale: str, runs_root: Path, target: Optional[float] = None,
                   force: bool = False) -> Path:
    """Run experiment ``name`` into ``runs_root/<scale>/<name>/`` and mark it complete with its
    experiment.json, which is what `attnopt report` finds it by. Returns the directory."""
    from attnopt import io
    from attnopt.report import EXPERIMENT_FILE, write_experiment
    from attnopt.report.ml import HPO_RESULTS, HPO_TRIALS

    directory = runs_root / scale / name
    # An interrupted rerun must not leave the old manifest vouching for a half-new set of files.
    (directory / EXPERIMENT_FILE).unlink(missing_ok=True)
    if name == "table3":
        from attnopt.hpo import run_hpo

        _, results, trials, _ = run_hpo(HPO_OVERRIDES[scale] + ["progress=true"])
        io.write_csv(directory / HPO_RESULTS, results)
        io.write_csv(directory / HPO_TRIALS, trials)
        write_experiment(directory, name, files=[HPO_RESULTS, HPO_TRIALS], scale=scale,
                         hpo_overrides=HPO_OVERRIDES[scale])
    else:
        dirs = run_jobs(experiments(scale)[name], directory, name, force)
        settings = {"scale": scale, **({"target": target} if name == "table2" else {})}
        write_experiment(directory, name, runs=dirs, **settings)
    return directory


#: what each experiment makes: output name (as registered for `attnopt report`) -> builder
OUTPUTS = {"table2": {"table2": report_ml.table2_of}, "fig2": {"fig2": report_ml.fig2_of},
           "fig3": {"fig3": report_ml.fig3_of},
           "table3": {"table3": report_ml.table3_of, "table3_search": report_ml.table3_search_of}}


def main(argv: Optional[list[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python -m attnopt.experiments.ml", description=__doc__.splitlines()[0])
    p.add_argument("experiment", choices=list(OUTPUTS))
    p.add_argument("--scale", choices=["full", "small"], default="full")
    p.add_argument("--out", default="outputs/report", help="where the table/figure goes")
    p.add_argument("--runs", default="outputs/ml", help="where run directories go (<runs>/<scale>/<experiment>)")
    p.add_argument("--target", type=float, default=None, help="table2: training-loss target (default: auto)")
    p.add_argument("--force", action="store_true", help="rerun runs whose results are already on disk")
    a = p.parse_args(argv)
    out = Path(a.out)
    import matplotlib.pyplot as plt

    from attnopt import io
    from attnopt.report import read_experiment, to_markdown, write_table

    try:
        directory = run_experiment(a.experiment, a.scale, Path(a.runs), a.target, a.force)
        # read back from the files, by the functions `attnopt report` uses: the same tables and figures
        results = read_experiment(directory)
        written = []
        for name, make in OUTPUTS[a.experiment].items():
            made = make(results)
            if isinstance(made, pd.DataFrame):
                written.extend(write_table(made, out, name))
                print(to_markdown(made), end="")
            else:
                written.append(io.write_figure(out / f"{name}.png", made))
                plt.close(made)
    except ConfigError as exc:
        print(f"attnopt: error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {', '.join(map(str, written))}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
