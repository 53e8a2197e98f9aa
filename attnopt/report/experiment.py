"""Experiment directories: results of a multi-part experiment (its runs and files) marked complete
by an ``experiment.json`` manifest, found under a root like run directories are."""
from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Optional

import pandas as pd

from attnopt import io
from attnopt.report.labels import label_variants
from attnopt.report.runs import RunDirWarning, load_runs

EXPERIMENT_FILE = "experiment.json"


class SupersededWarning(UserWarning):
    """An experiment directory left out because a newer one holds the same experiment."""


@dataclass
class ExperimentResults:
    """One experiment directory: its manifest's name and settings, the listed runs (rows and
    histories, as :func:`load_runs` gives them) and the listed result files."""

    name: str
    dir: Path
    settings: dict = field(default_factory=dict)
    runs: pd.DataFrame = field(default_factory=pd.DataFrame)
    histories: dict = field(default_factory=dict)
    files: dict = field(default_factory=dict)  # file name as listed -> path

    def file(self, name: str) -> Path:
        return self.files[name]


def write_experiment(directory: Path | str, name: str, runs: Iterable[Path | str] = (),
                     files: Iterable[str] = (), **settings) -> Path:
    """Mark ``directory`` as holding the complete results of experiment ``name``: ``runs`` (run
    directories inside it) and ``files`` (names relative to it). Write it after everything it lists,
    so, like a run's summary.json, its presence means the results are whole."""
    directory = Path(directory)
    listed = []
    for run in runs:
        try:  # relative, so the experiment can be moved or reported from any root
            listed.append(Path(run).resolve().relative_to(directory.resolve()).as_posix())
        except ValueError:
            raise ValueError(f"run directory {run} is not inside the experiment directory {directory}") from None
    return io.write_json(directory / EXPERIMENT_FILE, {"experiment": name, "runs": listed, "files": list(files),
                                                       "settings": settings})


def read_experiment(directory: Path | str, runs: Optional[pd.DataFrame] = None,
                    histories: Optional[dict] = None) -> ExperimentResults:
    """The experiment in ``directory``. ``runs``/``histories``: runs already loaded from a root
    above it (so the report reads each run once); loaded from ``directory`` when None.
    Raises ValueError naming what is wrong when the manifest is unreadable or something it lists is
    missing or unreadable."""
    directory = Path(directory)
    try:
        manifest = json.loads((directory / EXPERIMENT_FILE).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"{EXPERIMENT_FILE} is unreadable ({exc})") from None
    if not (isinstance(manifest, dict) and isinstance(manifest.get("experiment"), str)
            and all(isinstance(manifest.get(k, []), list) for k in ("runs", "files"))
            and isinstance(manifest.get("settings", {}), dict)):
        raise ValueError(f"{EXPERIMENT_FILE} must name an 'experiment' and list its 'runs' and 'files'")
    if runs is None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RunDirWarning)  # a listed one is named below; others do not matter
            runs, histories = load_runs(directory, with_history=True)
    histories = histories or {}
    wanted = [str(directory / r) for r in manifest.get("runs", [])]
    present = set(runs["run_dir"]) if "run_dir" in runs.columns else set()
    missing = [w for w in wanted if w not in present or w not in histories]
    if missing:
        raise ValueError(f"{len(missing)} of its {len(wanted)} runs are missing or unreadable, e.g. {missing[0]}")
    files = {name: directory / name for name in manifest.get("files", [])}
    absent = [str(p) for p in files.values() if not p.is_file()]
    if absent:
        raise ValueError(f"its result file {absent[0]} is missing")
    # Labelled among its own runs only: what else lies under the root must not rename them.
    selected = label_variants(runs[runs["run_dir"].isin(wanted)].reset_index(drop=True)) if wanted else pd.DataFrame()
    return ExperimentResults(manifest["experiment"], directory, manifest.get("settings", {}), selected,
                             {w: histories[w] for w in wanted}, files)


def find_experiments(root: Path | str, runs: Optional[pd.DataFrame] = None,
                     histories: Optional[dict] = None) -> dict[str, ExperimentResults]:
    """{name: results} of every experiment directory under ``root`` (itself included). Where two
    directories hold the same experiment (small and full scale, say), the most recently completed
    one counts and the others are named in a warning; an unreadable one is named and left out."""
    root = Path(root)
    found: dict[str, list[tuple[float, ExperimentResults]]] = {}
    for manifest in sorted(root.rglob(EXPERIMENT_FILE)):
        try:
            exp = read_experiment(manifest.parent, runs, histories)
        except (ValueError, OSError) as exc:
            warnings.warn(f"skipping experiment directory {manifest.parent}: {exc}", RunDirWarning, stacklevel=2)
            continue
        found.setdefault(exp.name, []).append((manifest.stat().st_mtime, exp))
    chosen = {}
    for name, candidates in sorted(found.items()):
        candidates.sort(key=lambda c: c[0])
        chosen[name] = candidates[-1][1]
        for _, older in candidates[:-1]:
            warnings.warn(f"experiment {name} in {older.dir} is left out: {chosen[name].dir} is newer",
                          SupersededWarning, stacklevel=2)
    return chosen
