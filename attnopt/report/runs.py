"""Run directories read back: finding them under a root, reading one, loading all of them as one
table (one row per run) with their histories. A directory that cannot be read is named in a
:class:`RunDirWarning` and left out."""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import pandas as pd
from attnopt import rundir
from attnopt.report.labels import label_variants

RUN_MARKERS = (rundir.SUMMARY_FILE, rundir.HISTORY_FILE, rundir.CONFIG_FILE, rundir.HYDRA_DIR)


class RunDirWarning(UserWarning):
    """A run directory that cannot be read; it is left out of the report."""


def find_run_dirs(root: Path | str) -> list[Path]:
    """Every directory under ``root`` (itself included) that looks like a run directory."""
    root = Path(root)
    found = set()
    for marker in RUN_MARKERS:
        for hit in root.rglob(marker):
            if ".hydra" in hit.parent.parts:  # files inside .hydra belong to the run above
                continue
            found.add(hit.parent)
    return sorted(found)


def _flatten(prefix: str, node, out: dict) -> None:
    if isinstance(node, dict):
        for k, v in node.items():
            _flatten(f"{prefix}.{k}" if prefix else str(k), v, out)
    elif isinstance(node, list):
        out[prefix] = json.dumps(node)
    else:
        out[prefix] = node


def read_run(run_dir: Path | str) -> dict:
    """One run's summary plus its flattened config (``optimizer.sigma``, ``budget.max_iters``, ...).
    Raises ValueError (:class:`attnopt.rundir.RunDirError`) naming what is wrong when the directory is
    incomplete or corrupt (a summary field of the wrong type included)."""
    summary = rundir.read_summary(run_dir)
    row: dict = {}
    _flatten("", rundir.read_config(run_dir), row)
    summary.pop("environment", None)
    row.update(summary)
    row["run_dir"] = str(run_dir)
    return row


def read_history(run_dir: Path | str) -> pd.DataFrame:
    """history.csv, its content checked (:func:`attnopt.rundir.read_history`)."""
    return rundir.read_history(run_dir)


def load_runs(root: Path | str, with_history: bool = False, label: bool = True
              ) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """(runs, histories): one row per readable run under ``root``; histories keyed by run_dir.

    An unreadable or partial run directory is named in a :class:`RunDirWarning` and left out.
    Runs that differ in a setting other than the seed get distinct labels (:func:`label_variants`).
    """
    rows, histories = [], {}
    for run_dir in find_run_dirs(root):
        try:
            row = read_run(run_dir)
            if with_history:
                histories[row["run_dir"]] = read_history(run_dir)
        except (ValueError, OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
            warnings.warn(f"skipping run directory {run_dir}: {exc}", RunDirWarning, stacklevel=2)
            continue
        rows.append(row)
    runs = pd.DataFrame(rows)
    return (label_variants(runs) if label else runs), histories
