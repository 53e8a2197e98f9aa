"""`attnopt report DIR --ioh OUT`: the runs in IOHprofiler's format, written by ioh's own logger
(``ioh.logger.Analyzer``, the one IOHexperimenter uses), so that IOHanalyzer (upload OUT zipped) and
IOHinspector (``iohinspector.DataManager().add_folder(OUT)``) read them as they read ioh's data.

ioh's logger records a problem while it is being evaluated, and it counts the evaluations itself.
So each landscape (as labelled: "rastrigin (rotate, shift)" is its own function) is registered with
ioh as a wrapped problem, and every run's evaluations are replayed on it in their order: the
evaluations of an iteration return the best loss so far, the last of them the best loss the
iteration ended with. ioh then dates each improvement, keeps the run's budget (its evaluations,
f + grad as attnopt counts them) and writes one folder per optimizer:
``<optimizer>/IOHprofiler_f<id>_<function>.json`` and
``<optimizer>/data_f<id>_<function>/IOHprofiler_f<id>_DIM<d>.dat`` with an ``evaluations raw_y``
line at each improvement and at the end of each run. A run's seed is its instance.

What the run directories do not hold, the export does not invent: an improvement made inside an
iteration is dated at the iteration's last evaluation (history.csv has one row per iteration; x0's
loss at evaluation 1, where every run of the format starts), and
the points are not recorded, so ioh is handed the zero vector and the JSON's best point of each run
keeps its value and evaluation count but an empty ``x``. ``raw_y`` is f itself (f* is in runs.csv).
Replaying costs about 1.5 us per evaluation (more at large d): seconds for a sweep of a few thousand
runs of 10^4 evaluations.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from attnopt import io
from attnopt.errors import ConfigError

#: rows of zeros handed to ioh at once (its wrapped problem evaluates a 2-D array row by row)
_CHUNK_VALUES = 1 << 18


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", str(text)).strip("_") or "x"


class _Replay:
    """The values a run's evaluations return, in order; the one objective every registered
    landscape calls (so a name registered before, in the same process, replays the same way)."""

    values = np.empty(0)
    next = 0

    @classmethod
    def start(cls, values: np.ndarray) -> None:
        cls.values, cls.next = values, 0

    @classmethod
    def objective(cls, x) -> float:
        value = cls.values[cls.next]
        cls.next += 1
        return float(value)


def replay_values(history: pd.DataFrame) -> np.ndarray:
    """One value per evaluation (f + grad) of a run: the best loss of the iterations before, the
    last evaluation of each iteration carrying the best loss that iteration ended with (and the
    first evaluation x0's loss)."""
    best = history["best_loss"].to_numpy(float)
    best = np.minimum.accumulate(np.where(np.isnan(best), np.inf, best))
    evals = (history["f_evals"] + history["g_evals"]).to_numpy(np.int64)
    counts = np.diff(evals, prepend=0)
    if (counts < 0).any():
        raise ValueError("history.csv: the evaluation counts decrease")
    # What an iteration's earlier evaluations return: the best of the iterations before. The first
    # evaluation returns x0's loss: the format starts every run with a line at evaluation 1 (readers
    # split runs there), so x0's value is dated 1 where attnopt's runtimes() date it at the end of
    # iteration 0 (2 when x0's gradient is counted too); every later improvement is dated alike.
    before = np.concatenate([best[:1], best[:-1]])
    values = np.repeat(before, counts)
    ends = evals[counts > 0] - 1
    values[ends] = best[counts > 0]
    return values


def check_destination(out: Path) -> None:
    """``out`` must be absent, empty or a previous export (folders of IOHprofiler files only), which
    the new one replaces; anything else is refused in one line, before any run is read."""
    if out.exists():
        if not out.is_dir():
            raise ConfigError(f"--ioh {out}: is a file; give a directory for the IOHprofiler export")
        foreign = [p for p in out.rglob("*") if p.is_file() and not p.name.startswith("IOHprofiler_")]
        if foreign:
            raise ConfigError(f"--ioh {out}: holds files that are not an IOHprofiler export (e.g. {foreign[0]}); "
                              "give a new or empty directory")
    from attnopt.io import check_writable

    check_writable(out.absolute().parent)  # the export is staged beside ``out`` and renamed into place


def _stage(out: Path) -> Path:
    """A fresh directory beside ``out`` to write into (:func:`_publish` swaps it into place)."""
    check_destination(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))


def _publish(staging: Path, out: Path) -> None:
    """Swap the finished export into place: a reader never sees half of one, or two mixed."""
    old = None
    if out.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old.", dir=out.parent))
        os.replace(out, old / "export")
    os.replace(staging, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _without_positions(json_file: Path) -> None:
    """The zero vector ioh was handed is no point of the run: its best point keeps no ``x``."""
    meta = json.loads(json_file.read_text())
    for scenario in meta.get("scenarios", []):
        for run in scenario.get("runs", []):
            run.get("best", {})["x"] = []
    io.write_json(json_file, meta)


def export_iohprofiler(runs: pd.DataFrame, histories: dict, out: Path | str, progress: bool = False) -> list[Path]:
    """Write ``runs`` (with their histories) into ``out`` in IOHprofiler's format through ioh's
    Analyzer logger; returns the files written. Raises ConfigError for an ``out`` that holds
    something else, NotApplicable for runs without histories."""
    import ioh
    from tqdm.auto import tqdm

    from attnopt.report.registry import NotApplicable

    needed = [c for c in ("landscape", "optimizer", "dimension", "run_dir") if c not in runs.columns]
    if needed:
        raise NotApplicable(f"the IOHprofiler export needs columns {needed}, which these runs lack")
    runs = runs[runs["run_dir"].isin(histories.keys())]
    if runs.empty:
        raise NotApplicable("the IOHprofiler export needs run histories")
    out = Path(out)
    staging = _stage(out)
    try:
        functions = {}
        for land in sorted(runs["landscape"].astype(str).unique()):
            name = _slug(land)
            try:
                ioh.wrap_problem(_Replay.objective, name=name, problem_class=ioh.ProblemClass.REAL)
            except Exception as exc:  # ioh refuses the names of its own built-in problems
                raise ConfigError(f"--ioh: landscape '{land}' cannot be registered with ioh as '{name}' ({exc})")
            functions[land] = name
        seeds = runs["seed"] if "seed" in runs.columns else pd.Series(range(len(runs)), index=runs.index)
        bar = tqdm(total=len(runs), desc="IOHprofiler export", unit="run", disable=not progress, leave=False)
        for opt, by_opt in runs.assign(_seed=seeds).groupby("optimizer", sort=True):
            logger = ioh.logger.Analyzer(
                triggers=[ioh.logger.trigger.ON_IMPROVEMENT], root=str(staging), folder_name=_slug(opt),
                algorithm_name=str(opt), algorithm_info="attnopt run directories; evaluations = f + grad")
            logger.full_precision = True  # round-trip floats, not %.10f
            for (land, dim), g in by_opt.groupby([by_opt["landscape"].astype(str), "dimension"], sort=True):
                dim = int(dim)
                rows = max(1, _CHUNK_VALUES // dim)
                for seed, run_dir in zip(g["_seed"], g["run_dir"]):
                    values = replay_values(histories[run_dir])
                    problem = ioh.get_problem(functions[land], instance=int(seed), dimension=dim,
                                              problem_class=ioh.ProblemClass.REAL)
                    problem.attach_logger(logger)
                    _Replay.start(values)
                    zeros = np.zeros((min(rows, len(values)), dim))
                    for start in range(0, len(values), rows):
                        problem(zeros[:min(rows, len(values) - start)])
                    if _Replay.next != len(values) or problem.state.evaluations != len(values):
                        raise RuntimeError(f"ioh counted {problem.state.evaluations} evaluations of {run_dir}, "
                                           f"which has {len(values)}")
                    problem.reset()  # the logger closes the run: its budget and best point
                    problem.detach_logger()
                    bar.update()
            logger.close()
        bar.close()
        for json_file in staging.rglob("IOHprofiler_*.json"):
            _without_positions(json_file)
        _publish(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return sorted(p for p in out.rglob("*") if p.is_file())


__all__ = ["check_destination", "export_iohprofiler", "replay_values"]
