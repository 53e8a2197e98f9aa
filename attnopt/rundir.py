"""The run directory: the one module that knows its layout, writes it, reads it back and judges it.

A run directory holds::

    config.yaml     the resolved run config (hydra node excluded)
    history.csv     one row per iteration, iteration 0 (the initial point) included
    loss.png        the loss curve (plot=true only)
    .hydra/         Hydra's config.yaml, hydra.yaml, overrides.yaml for the run, when Hydra ran it
    summary.json    the outcome, the config hash and the environment: written LAST

Every file is written atomically (:mod:`attnopt.io`: a temporary file renamed into place), and
``summary.json`` last, so a directory whose summary.json is valid and whose history.csv agrees with
it is a *complete* run (:func:`check`); anything less was interrupted and is rerun, never trusted.

*The config hash* (:func:`config_hash`) identifies what a run computes: every key of the resolved
config except the hydra node and the output-only keys (``progress``, ``plot``, ``resume``). Resume
finds results by it, and a run directory's *name* (:func:`run_name`, also the resolver
``${attnopt.run_name:}`` the configs use) ends with it, so a job's directory is decided by its
config, never by its position in a sweep: resuming a changed or reordered sweep cannot send a job
into the directory of a finished run of another config.
"""
from __future__ import annotations

import hashlib
import json
import numbers
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Container, Mapping, Optional

from attnopt import io

CONFIG_FILE = "config.yaml"
HISTORY_FILE = "history.csv"
SUMMARY_FILE = "summary.json"
FIGURE_FILE = "loss.png"
HYDRA_DIR = ".hydra"
HYDRA_FILES = ("config.yaml", "hydra.yaml", "overrides.yaml")
#: what a run writes, summary.json first: see :func:`clear`
RESULT_FILES = (SUMMARY_FILE, HISTORY_FILE, FIGURE_FILE, CONFIG_FILE)

#: keys that change how a run is shown, not what it computes: changing them must not force a rerun
OUTPUT_ONLY_KEYS = ("progress", "plot", "resume")

#: history.csv columns every run has; all but ``phase`` (a word) are numbers
HISTORY_NUMERIC = ("iter", "loss", "best_loss", "f_evals", "g_evals", "time_s")
HISTORY_COLUMNS = (*HISTORY_NUMERIC, "phase")

_NUMBER = "a number"
_COUNT = "an integer >= 0"
_TEXT = "a string"
#: summary.json fields every run has, and what each must be
SUMMARY_FIELDS = {"optimizer": _TEXT, "landscape": _TEXT, "dimension": "an integer >= 1", "seed": _COUNT,
                  "final_loss": _NUMBER, "best_loss": _NUMBER, "iters": _COUNT, "f_evals": _COUNT,
                  "g_evals": _COUNT, "time_s": _NUMBER, "status": _TEXT}


class RunDirError(ValueError):
    """A run directory that is incomplete or corrupt; the message says what is wrong."""


# ----------------------------------------------------------------------------------------------
# Identity: the config hash and the directory name


def _plain(config) -> dict:
    """The resolved config as plain containers, hydra node excluded."""
    if not isinstance(config, Mapping) or hasattr(config, "_get_node"):  # an OmegaConf DictConfig
        from omegaconf import OmegaConf

        return {str(k): OmegaConf.to_container(config[k], resolve=True) if OmegaConf.is_config(config[k])
                else config[k] for k in config.keys() if k != "hydra"}
    return {k: v for k, v in config.items() if k != "hydra"}


def config_hash(config) -> str:
    """A stable hash of what a run computes: the resolved config (a dict or a DictConfig), the
    hydra node and the output-only keys left out. Everything else counts: optimizer, landscape,
    dimension, seed, x0, the whole budget, backend, device, dtype."""
    relevant = {k: v for k, v in _plain(config).items() if k not in OUTPUT_ONLY_KEYS}
    text = json.dumps(relevant, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def run_name(config) -> str:
    """A run directory's name: readable, and ending with the config hash so that it is the same
    for the same config and different for different ones (``gd_sphere_d2_s0_1a2b3c4d``)."""
    plain = _plain(config)

    def name_of(section: str) -> str:
        node = plain.get(section)
        return str(node.get("name", section)) if isinstance(node, dict) else section

    return (f"{name_of('optimizer')}_{name_of('landscape')}_d{plain.get('dimension')}_s{plain.get('seed')}_"
            f"{config_hash(plain)[:8]}")


def register_resolver() -> None:
    """``${attnopt.run_name:}`` in a config resolves to :func:`run_name` of the config it is in
    (conf/config.yaml names run and sweep directories with it)."""
    from omegaconf import OmegaConf

    if not OmegaConf.has_resolver("attnopt.run_name"):
        OmegaConf.register_new_resolver("attnopt.run_name", lambda *, _root_: run_name(_root_))


# ----------------------------------------------------------------------------------------------
# Writing


def write(run_dir: Path | str, *, config: dict, history, summary: dict, figure=None,
          hydra_files: Optional[Mapping[str, Any]] = None) -> Path:
    """Write a run directory: config.yaml, history.csv, loss.png (``figure``, an :class:`attnopt.plotting.LossFigure`), the ``.hydra/`` files
    (``{"hydra.yaml": DictConfig or plain container, ...}``; ``config`` itself given as the value of
    ".hydra/config.yaml" is written as config.yaml is) and summary.json, last, with the config hash
    added. Nothing is written before the run has finished, so an interrupted run leaves at most an
    empty directory behind (or, killed during these writes, a partial one that :func:`check` rejects)."""
    run_dir = Path(run_dir)
    config_text = _yaml(config)
    io.write_text(run_dir / CONFIG_FILE, config_text)
    io.write_csv(run_dir / HISTORY_FILE, history)
    if figure is not None:  # an attnopt.plotting.LossFigure
        io.atomic_write(run_dir / FIGURE_FILE, figure.save)
    for name, node in (hydra_files or {}).items():
        io.write_text(run_dir / HYDRA_DIR / name, config_text if node is config else _yaml(node))
    io.write_json(run_dir / SUMMARY_FILE, {**summary, "config_hash": config_hash(config)})
    return run_dir


def _yaml(node) -> str:
    """YAML text of a plain container or an OmegaConf node, as OmegaConf.to_yaml writes it (block
    style, keys in order), through PyYAML's C dumper where there is one: ~10x faster per run."""
    import yaml

    if hasattr(node, "_get_node"):  # an OmegaConf node: Hydra's .hydra/ files keep its interpolations
        from omegaconf import OmegaConf

        return OmegaConf.to_yaml(node)
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    return yaml.dump(node, Dumper=dumper, default_flow_style=False, allow_unicode=True, sort_keys=False)


def clear(run_dir: Path | str) -> None:
    """Remove a previous attempt's result files, summary.json first, so that a crash during the
    rerun can never leave an old summary.json vouching for new, half-written files."""
    run_dir = Path(run_dir)
    for name in RESULT_FILES:
        (run_dir / name).unlink(missing_ok=True)


def remove_partial(run_dir: Path | str) -> bool:
    """Remove what an interrupted attempt left in ``run_dir`` (result files, Hydra's .hydra/, atomic
    writes' temporary files) and the directory itself once empty; never a complete run, never a
    file attnopt did not write. True when the directory is gone."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir() or check(run_dir) is None:
        return False
    clear(run_dir)
    for tmp in run_dir.glob(".*.tmp"):
        tmp.unlink(missing_ok=True)
    hydra = run_dir / HYDRA_DIR
    if hydra.is_dir() and all(p.name in HYDRA_FILES or p.name.endswith(".tmp") for p in hydra.iterdir()):
        shutil.rmtree(hydra, ignore_errors=True)
    try:
        run_dir.rmdir()
    except OSError:  # something else is in it: leave it
        return False
    return True


# ----------------------------------------------------------------------------------------------
# Reading back


def _check_field(name: str, value, wanted: str) -> Optional[str]:
    if wanted == _TEXT:
        ok = isinstance(value, str)
    elif wanted == _NUMBER:
        ok = isinstance(value, numbers.Real) and not isinstance(value, bool) or value is None
    else:
        low = 1 if wanted.endswith(">= 1") else 0
        ok = isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= low
    return None if ok else f"{name} is {value!r}, not {wanted}"


def read_summary(run_dir: Path | str) -> dict:
    """summary.json, with every field checked for its type; raises RunDirError saying what is wrong."""
    path = Path(run_dir) / SUMMARY_FILE
    if not path.is_file():
        raise RunDirError(f"no {SUMMARY_FILE} (the run did not finish)")
    try:
        summary = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise RunDirError(f"{SUMMARY_FILE} is unreadable ({exc})") from None
    if not isinstance(summary, dict):
        raise RunDirError(f"{SUMMARY_FILE} is not a JSON object")
    missing = [name for name in SUMMARY_FIELDS if name not in summary]
    if missing:
        raise RunDirError(f"{SUMMARY_FILE} lacks {', '.join(missing)}")
    for name, wanted in SUMMARY_FIELDS.items():
        problem = _check_field(name, summary[name], wanted)
        if problem:
            raise RunDirError(f"{SUMMARY_FILE}: {problem}")
    if "config_hash" in summary and not isinstance(summary["config_hash"], str):
        raise RunDirError(f"{SUMMARY_FILE}: config_hash is {summary['config_hash']!r}, not a string")
    return summary


def read_config(run_dir: Path | str) -> dict:
    """config.yaml as a plain dict ({} when the run has none); raises RunDirError when unreadable."""
    import yaml

    path = Path(run_dir) / CONFIG_FILE
    if not path.is_file():
        return {}
    try:
        # libyaml's safe loader where PyYAML has it: the pure-Python one took 15 ms per config.yaml,
        # half the time of a 1,000-run report. Both construct plain data only.
        config = yaml.load(path.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise RunDirError(f"{CONFIG_FILE} is unreadable ({exc})") from None
    if not isinstance(config, dict):
        raise RunDirError(f"{CONFIG_FILE} is not a mapping")
    return config


def read_history(run_dir: Path | str, iters: Optional[int] = None):
    """history.csv as a DataFrame, its content checked: the columns every run has, numbers where
    numbers belong, iterations 0, 1, ..., and (given ``iters``, from summary.json) all of them."""
    import numpy as np
    import pandas as pd

    path = Path(run_dir) / HISTORY_FILE
    if not path.is_file():
        raise RunDirError(f"{HISTORY_FILE} is missing")
    try:
        history = pd.read_csv(path)
    except (OSError, ValueError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise RunDirError(f"{HISTORY_FILE} is unreadable ({str(exc).strip().splitlines()[0]})") from None
    missing = [c for c in HISTORY_COLUMNS if c not in history.columns]
    if missing:
        raise RunDirError(f"{HISTORY_FILE} lacks columns {', '.join(missing)}")
    for column in HISTORY_NUMERIC:
        if not pd.api.types.is_numeric_dtype(history[column]) or pd.api.types.is_bool_dtype(history[column]):
            raise RunDirError(f"{HISTORY_FILE}: column {column} holds values that are not numbers")
    if iters is not None and len(history) != iters + 1:  # iteration 0 (the initial point) is recorded too
        raise RunDirError(f"{HISTORY_FILE} has {len(history)} rows, {SUMMARY_FILE} says {iters + 1}")
    if not np.array_equal(history["iter"].to_numpy(), np.arange(len(history))):
        raise RunDirError(f"{HISTORY_FILE}: column iter is not 0, 1, 2, ...")
    return history


def check(run_dir: Path | str, wanted_hash: Optional[str] = None) -> Optional[str]:
    """None when ``run_dir`` holds a complete run (of the config ``wanted_hash``, if given), else
    the reason it does not, in a few words."""
    try:
        summary = read_summary(run_dir)
        if wanted_hash is not None and summary.get("config_hash") != wanted_hash:
            return "it holds a run of another config"
        read_history(run_dir, summary["iters"])
    except RunDirError as exc:
        return str(exc)
    return None


def summary_hash(run_dir: Path | str) -> Optional[str]:
    """The config hash summary.json names, without checking anything else (None when there is none)."""
    try:
        value = json.loads((Path(run_dir) / SUMMARY_FILE).read_text()).get("config_hash")
    except (OSError, ValueError, AttributeError):
        return None
    return value if isinstance(value, str) else None


def complete_runs(root: Path | str, wanted: Optional[set] = None) -> dict[str, Path]:
    """{config hash: directory} of the complete runs under ``root`` (only of the hashes in
    ``wanted``, when given: only those runs' histories are read and checked)."""
    root = Path(root)
    found: dict[str, Path] = {}
    if not root.is_dir():
        return found
    for summary in sorted(root.rglob(SUMMARY_FILE)):
        if HYDRA_DIR in summary.parent.relative_to(root).parts:
            continue
        h = summary_hash(summary.parent)
        if h and h not in found and (wanted is None or h in wanted) and check(summary.parent, h) is None:
            found[h] = summary.parent
    return found


@dataclass
class Claim:
    """Where a job's results are: ``dir``; ``complete``: they are there already (resume), so the
    job has nothing to do; ``note``: what the job found and did about it, for a warning."""

    dir: Path
    complete: bool
    note: Optional[str] = None


def claim(run_dir: Path | str, config, root: Optional[Path | str] = None, resume: bool = True,
          absent: Container[str] = ()) -> Claim:
    """Decide, before a job runs, where its results go (``run_dir``: the directory Hydra gave it).

    With ``resume``, a complete run of the same config in ``run_dir`` or anywhere under ``root`` (the
    sweep directory) is the job's result. A complete run of ANOTHER config in ``run_dir`` is never
    touched (a hand-made ``hydra.sweep.subdir`` such as ``${hydra.job.num}`` can hand a job the
    directory of another one): the job runs into ``<root>/<run_name>`` instead, the directory its
    config names. Leftovers of an interrupted attempt are cleared, so a job starts from a clean
    directory that holds nothing of another run.

    ``absent``: config hashes known to have no complete run under ``root`` (attnopt's sweeper
    searched it before launching), whose jobs then need not search it again: a search reads every
    run's summary.json, so a search per job costs a sweep of n runs n² reads."""
    run_dir = Path(run_dir)
    wanted = config_hash(config)
    problem = check(run_dir, wanted)
    if resume:
        if problem is None:
            return Claim(run_dir, True)
        other = complete_runs(root, {wanted}).get(wanted) if root is not None and wanted not in absent else None
        if other is not None:
            return Claim(other, True)
    note = None
    if problem == "it holds a run of another config":
        own = Path(root if root is not None else run_dir.parent) / run_name(config)
        note = f"{run_dir} holds a complete run of another config, which is kept; this run goes to {own}"
        run_dir, problem = own, check(own, wanted)
        if problem is None and resume:
            return Claim(own, True, note)
        if problem == "it holds a run of another config":  # two configs whose hashes share 8 digits
            run_dir = run_dir.with_name(f"{run_dir.name}_{wanted}")
            problem = check(run_dir, wanted)
    leftover = run_dir.is_dir() and any(p.name != HYDRA_DIR for p in run_dir.iterdir())
    if leftover and problem is not None and note is None:
        note = f"rerunning {run_dir}: {problem}"
    clear(run_dir)
    return Claim(run_dir, False, note)


__all__ = ["CONFIG_FILE", "HISTORY_FILE", "SUMMARY_FILE", "FIGURE_FILE", "HYDRA_DIR", "RESULT_FILES",
           "OUTPUT_ONLY_KEYS", "RunDirError", "config_hash", "run_name", "register_resolver", "write", "clear",
           "remove_partial", "read_summary", "read_config", "read_history", "check", "summary_hash",
           "complete_runs", "Claim", "claim"]
