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
from __future__ import annotations

import json
import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Optional

import numpy as np
import pandas as pd
import yaml

from attnopt import io

RUN_MARKERS = ("summary.json", "history.csv", "config.yaml", ".hydra")
EXPERIMENT_FILE = "experiment.json"


class RunDirWarning(UserWarning):
    """A run directory that cannot be read; it is left out of the report."""


class SupersededWarning(UserWarning):
    """An experiment directory left out because a newer one holds the same experiment."""


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
    Raises ValueError naming what is wrong when the directory is incomplete or corrupt."""
    run_dir = Path(run_dir)
    summary_path = run_dir / "summary.json"
    if not summary_path.is_file():
        raise ValueError("no summary.json (the run did not finish)")
    try:
        summary = json.loads(summary_path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"summary.json is unreadable ({exc})") from None
    if not isinstance(summary, dict) or "final_loss" not in summary:
        raise ValueError("summary.json lacks final_loss")
    row: dict = {}
    config_path = run_dir / "config.yaml"
    if config_path.is_file():
        try:
            config = yaml.safe_load(config_path.read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ValueError(f"config.yaml is unreadable ({exc})") from None
        _flatten("", config, row)
    summary.pop("environment", None)
    row.update(summary)
    row["run_dir"] = str(run_dir)
    return row


def read_history(run_dir: Path | str) -> pd.DataFrame:
    history = pd.read_csv(Path(run_dir) / "history.csv")
    missing = {"iter", "loss", "best_loss", "f_evals", "g_evals"} - set(history.columns)
    if missing:
        raise ValueError(f"history.csv lacks columns {sorted(missing)}")
    return history


#: top-level config keys that change what a run computes (besides dimension and seed)
RUN_SETTINGS = ("x0", "backend", "device", "dtype")
#: config sections whose every key changes what a run computes
SETTING_SECTIONS = ("optimizer.", "landscape.", "budget.")


#: landscape keys shown in the landscape's label whenever true, varied or not: a rotated or shifted
#: landscape is a different problem from the function its name says
ALWAYS_SHOWN = ("landscape.rotate", "landscape.shift")


def _short(column: str) -> str:
    return column.split(".", 1)[1] if column.startswith(("optimizer.", "landscape.")) else column


def _describe(row: pd.Series) -> str:
    """``k=v`` per setting; a true flag as its bare name, a false one left out."""
    parts = []
    for column, value in row.items():
        text = str(value)
        if text in ("True", "False"):
            if text == "True":
                parts.append(_short(column))
        elif not (isinstance(value, float) and np.isnan(value)):
            parts.append(f"{_short(column)}={text}")
    return ", ".join(parts)


def label_variants(runs: pd.DataFrame) -> pd.DataFrame:
    """Runs that share a landscape, dimension and optimizer but differ in any other setting are not
    seeds of one experiment, so they must not be averaged as if they were. Their ``landscape`` (for
    landscape keys) or ``optimizer`` (every other key) gets the differing settings appended, e.g.
    ``attention (sigma=0.1)`` or ``trapped (lambda_osc=2)``, so that every table and figure, which
    group by these columns, keeps them apart; a rotated or shifted landscape always says so
    (``ackley (rotate, shift)``). The plain names stay in ``optimizer.name`` and ``landscape.name``.
    A sweep over seeds alone is left as it is."""
    needed = {"landscape", "dimension", "optimizer"}
    if runs.empty or not needed <= set(runs.columns):
        return runs
    settings = [c for c in runs.columns
                if (c in RUN_SETTINGS or c.startswith(SETTING_SECTIONS)) and c not in ("optimizer.name", "landscape.name")]
    runs = runs.copy()
    for column in ("landscape", "optimizer"):  # start from the plain names: labelling twice is labelling once
        plain = f"{column}.name"
        if plain in runs:
            runs[column] = runs[plain].where(runs[plain].notna(), runs[column])

    def append(column: str, keys: list[str], group_by: list[str], always: tuple[str, ...] = ()) -> None:
        if not keys:
            return
        text = runs[keys].astype(str).where(runs[keys].notna())  # compared as written; missing stays missing
        groups = [runs[c].astype(str) for c in group_by]
        varies = text.groupby(groups, sort=False).transform("nunique") > 1
        if "seed" in runs:  # a key equal to the seed in every run of its group follows the seed
            follows = text.eq(runs["seed"].astype(str), axis=0).groupby(groups, sort=False).transform("all")
            varies &= ~follows
        shown = varies | pd.DataFrame({k: k in always for k in keys}, index=runs.index)
        for i in runs.index[shown.any(axis=1)]:
            detail = _describe(runs.loc[i, [k for k in keys if shown.at[i, k]]])
            if detail:
                runs.at[i, column] = f"{runs.at[i, column]} ({detail})"

    # the landscape first, over all optimizers, so that every optimizer's runs on one problem
    # carry the same landscape label
    append("landscape", [c for c in settings if c.startswith("landscape.")], ["landscape", "dimension"],
           always=ALWAYS_SHOWN)
    append("optimizer", [c for c in settings if not c.startswith("landscape.")], ["landscape", "dimension", "optimizer"])
    return runs


def load_runs(root: Path | str, with_history: bool = False) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
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
    return label_variants(pd.DataFrame(rows)), histories


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


def curves_on_grid(histories: Iterable[pd.DataFrame], x: str, y: str, grid: np.ndarray) -> np.ndarray:
    """Stack ``y`` of several runs onto a common ``x`` grid, shape (runs, len(grid)).

    Each run's value at a grid point is its last recorded value at or before it (a step function,
    right for best-so-far curves and for evaluations counted in batches); NaN before its first record
    and after its last, so a run that stopped early does not pretend to go on.
    """
    out = []
    for h in histories:
        xs = (h["f_evals"] + h["g_evals"]).to_numpy(float) if x == "evals" else h[x].to_numpy(float)
        ys = h[y].to_numpy(float)
        idx = np.searchsorted(xs, grid, side="right") - 1
        vals = np.where(idx >= 0, ys[np.clip(idx, 0, len(ys) - 1)], np.nan)
        vals[grid > xs[-1]] = np.nan
        out.append(vals)
    return np.vstack(out) if out else np.empty((0, len(grid)))


def nanquantiles(stacked: np.ndarray, qs) -> np.ndarray:
    """Quantiles over axis 0 ignoring NaN, numpy's default (linear) method; NaN where a column is
    all NaN. Same numbers as np.nanpercentile (which loops in Python over the columns and took
    20 of the 40 seconds of Table 1's figure), except that equal infinite values (diverged runs)
    give inf rather than NaN, so they still plot at the top of the axis."""
    s = np.sort(stacked, axis=0)  # NaN sorts last
    k = np.sum(~np.isnan(stacked), axis=0)
    out = []
    for q in qs:
        pos = np.maximum(k - 1, 0) * q
        lo = np.floor(pos).astype(int)
        hi = np.minimum(lo + 1, np.maximum(k - 1, 0))
        v_lo = np.take_along_axis(s, lo[None, :], axis=0)[0]
        v_hi = np.take_along_axis(s, hi[None, :], axis=0)[0]
        frac = pos - lo
        with np.errstate(invalid="ignore"):  # inf - inf where a diverged run sits at both ends
            v = np.where((frac == 0) | (v_lo == v_hi), v_lo, v_lo + (v_hi - v_lo) * frac)
        out.append(np.where(k > 0, v, np.nan))
    return np.array(out)


def median_band(ax, histories: list[pd.DataFrame], x: str, y: str, label: str, grid: Optional[np.ndarray] = None,
                shift: float = 0.0, **plot_kw):
    """Plot the median over runs with a shaded inter-quartile band; returns the median line."""
    if grid is None:
        hi = max(((h["f_evals"] + h["g_evals"]).iloc[-1] if x == "evals" else h[x].iloc[-1]) for h in histories)
        grid = np.unique(np.geomspace(1, max(hi, 1), 400).round()) if x == "evals" else np.arange(0, hi + 1)
    stacked = curves_on_grid(histories, x, y, grid) - shift
    lo, med, hi = nanquantiles(stacked, [0.25, 0.5, 0.75])
    (line,) = ax.plot(grid, med, label=label, **plot_kw)
    ax.fill_between(grid, lo, hi, color=line.get_color(), alpha=0.2, linewidth=0)
    return line


def _cell(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, (float, np.floating)):
        return f"{value:.3g}"
    return str(value).replace("|", "\\|")


def to_markdown(frame: pd.DataFrame) -> str:
    """A GitHub-flavoured Markdown table; floats to 3 significant digits, numbers right-aligned."""
    cols = [str(c) for c in frame.columns]
    numeric = [pd.api.types.is_numeric_dtype(frame[c]) and not pd.api.types.is_bool_dtype(frame[c])
               for c in frame.columns]
    lines = ["| " + " | ".join(cols) + " |",
             "|" + "|".join("---:" if num else ":---" for num in numeric) + "|"]
    for row in frame.itertuples(index=False):
        lines.append("| " + " | ".join(_cell(v) for v in row) + " |")
    return "\n".join(lines) + "\n"


def write_table(frame: pd.DataFrame, out_dir: Path | str, name: str) -> tuple[Path, Path]:
    """Write ``name.csv`` (full precision) and ``name.md`` (for reading) into ``out_dir``, atomically."""
    out_dir = Path(out_dir)
    csv = io.write_csv(out_dir / f"{name}.csv", frame)
    md = io.write_text(out_dir / f"{name}.md", to_markdown(frame))
    return csv, md


__all__ = ["ExperimentResults", "write_experiment", "read_experiment", "find_experiments", "EXPERIMENT_FILE",
           "nanquantiles", "to_markdown", "write_table", "find_run_dirs", "read_run", "read_history", "load_runs", "curves_on_grid", "median_band",
           "RunDirWarning", "SupersededWarning"]
