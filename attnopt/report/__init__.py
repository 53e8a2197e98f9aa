"""Reading finished runs back: the only way reporting sees results (it never imports an optimizer).

A *run directory* is what `attnopt run` writes: ``config.yaml``, ``history.csv``, ``summary.json``
(written last, so its presence marks a complete run) and ``loss.png``. :func:`load_runs` finds every
run directory under a root (a sweep, or a tree of sweeps), skips with a warning any that is
incomplete or unreadable, and returns one tidy row per run.

An *experiment directory* is what a multi-part experiment that is not a single sweep writes (e.g.
``python -m attnopt.experiments.ml table2``): its run directories and result files, and, last, an
``experiment.json`` manifest naming the experiment and listing them. :func:`find_experiments` finds
those under a root, so the tables built from them are found the same way as the ones built from runs.
"""
from attnopt.report.curves import curves_on_grid, median_band, nanquantiles
from attnopt.report.experiment import (EXPERIMENT_FILE, ExperimentResults, SupersededWarning, find_experiments,
                                       read_experiment, write_experiment)
from attnopt.report.labels import label_variants
from attnopt.report.markdown import to_markdown, write_table
from attnopt.report.runs import RunDirWarning, find_run_dirs, load_runs, read_history, read_run

__all__ = ["label_variants", "ExperimentResults", "write_experiment", "read_experiment", "find_experiments", "EXPERIMENT_FILE",
           "nanquantiles", "to_markdown", "write_table", "find_run_dirs", "read_run", "read_history", "load_runs", "curves_on_grid", "median_band",
           "RunDirWarning", "SupersededWarning"]
