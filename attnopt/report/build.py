"""`attnopt report DIR`: every registered table and figure from the run directories and experiment
directories under DIR.

The report reads files only. It finds the modules that register tables and figures by listing the
``attnopt.report`` package, so a new module (tables.py, figures.py, hybrids.py, ...) is picked up
without a list to keep in sync. A run directory that cannot be read is named in a warning and left
out; a table or figure that fails is named and the others are still written.
"""
from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
import traceback
import warnings
from pathlib import Path
from typing import Iterable, Optional

import pandas as pd

from attnopt import io
from attnopt.errors import ConfigError
from attnopt.report import RunDirWarning, SupersededWarning, find_experiments, load_runs, write_table
from attnopt.report.registry import EXPERIMENT_OF, FIGURES, TABLES, NotApplicable

# Modules of this package that do not register anything (importing them again is harmless anyway).
_NOT_REGISTERING = {"registry", "build"}
_import_errors: dict[str, str] = {}


def load_registrations() -> dict[str, str]:
    """Import every module of attnopt.report so its @table/@figure decorators run.

    Returns {module: error} for modules that failed to import; they are reported, not fatal, so one
    broken module does not take every other table down with it.
    """
    import attnopt.report as package

    for info in pkgutil.iter_modules(package.__path__):
        name = info.name
        if name in _NOT_REGISTERING or name.startswith("_") or name in _import_errors:
            continue
        try:
            importlib.import_module(f"attnopt.report.{name}")
        except Exception as exc:  # noqa: BLE001 - any import failure is reported the same way
            _import_errors[name] = f"{type(exc).__name__}: {exc}"
    return dict(_import_errors)


def _named(requested: Optional[Iterable[str]]) -> set[str]:
    """The names a request spells out (none for None, "all" or "none")."""
    if requested is None:
        return set()
    items = [requested] if isinstance(requested, str) else list(requested)
    names = {n.strip() for item in items for n in str(item).split(",") if n.strip()}
    return set() if names in ({"all"}, {"none"}) else names


def _choose(requested: Optional[Iterable[str]], registry: dict, kind: str) -> list[str]:
    """Names to build: all registered when ``requested`` is None, none for ["none"]."""
    if requested is None:
        return sorted(registry)
    if isinstance(requested, str):
        requested = [requested]
    names = [n.strip() for item in requested for n in str(item).split(",") if n.strip()]
    if names in (["none"], []):
        return []
    if names == ["all"]:
        return sorted(registry)
    unknown = [n for n in names if n not in registry]
    if unknown:
        broken = "".join(f"; module attnopt.report.{m} failed to import ({e})" for m, e in _import_errors.items())
        raise ConfigError(f"unknown {kind} '{unknown[0]}'; choose from: {', '.join(sorted(registry)) or '(none)'}, "
                          f"all, none{broken}")
    return list(dict.fromkeys(names))


def _warn(message: str) -> None:
    print(f"attnopt: warning: {message}", file=sys.stderr, flush=True)


def build_report(root: Path | str, out: Path | str = "outputs/report", tables: Optional[Iterable[str]] = None,
                 figures: Optional[Iterable[str]] = None, progress: bool = True, runs_name: str = "runs") -> dict:
    """Load the runs under ``root`` and write runs.csv plus the chosen tables and figures into ``out``.

    ``tables``/``figures``: names (comma-separated strings allowed), "all" or "none"; None means all.
    ``runs_name``: the per-run table's file name (without .csv), so reports of several sweeps can
    share one directory.
    Returns {"written": [paths], "failed": [names], "skipped": {name: reason}, "unreadable": [dirs]}.
    """
    for module, error in load_registrations().items():
        _warn(f"report module attnopt.report.{module} failed to import, its tables/figures are missing: {error}")
    table_names = _choose(tables, TABLES, "table")
    figure_names = _choose(figures, FIGURES, "figure")
    # Items asked for by name say why they were not built; of "all", most registered items are
    # about other experiments, so those are listed in one line instead of one line each.
    named = _named(tables) | _named(figures)
    root, out = Path(root), Path(out)
    if not root.is_dir():
        raise ConfigError(f"report directory '{root}' does not exist; give a sweep or run directory")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RunDirWarning)
        warnings.simplefilter("always", SupersededWarning)
        runs, histories = load_runs(root, with_history=True)
        # before duplicates are dropped: an experiment counts every run it lists, wherever else
        # the same config was run
        experiments = find_experiments(root, runs, histories)
    unreadable = []
    for w in caught:
        if issubclass(w.category, (RunDirWarning, SupersededWarning)):
            _warn(str(w.message))
            if issubclass(w.category, RunDirWarning):
                unreadable.append(str(w.message))
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    if runs.empty and not experiments:
        raise ConfigError(f"no finished runs under '{root}' (a run directory is finished once it has summary.json)")
    written = []
    if not runs.empty:
        runs = _drop_duplicates(runs)
        histories = {k: v for k, v in histories.items() if k in set(runs["run_dir"])}
        written.append(io.write_csv(out / f"{runs_name}.csv", runs))

    def build(fn):
        experiment = EXPERIMENT_OF.get(fn)
        if experiment is not None:
            if experiment not in experiments:
                raise NotApplicable(f"needs the results of experiment {experiment} (a directory with an "
                                    f"experiment.json naming it); none under {root}")
            return fn(experiments[experiment])
        if runs.empty:
            raise NotApplicable(f"needs run directories; none under {root}")
        return fn(runs, histories)

    failed, skipped = [], {}
    jobs = [("table", n) for n in table_names] + [("figure", n) for n in figure_names]
    from tqdm.auto import tqdm

    for kind, name in tqdm(jobs, desc="report", unit="item", disable=not progress or len(jobs) < 2, leave=False):
        try:
            if kind == "table":
                written.extend(write_table(build(TABLES[name]), out, name))
            else:
                import matplotlib.pyplot as plt

                fig = build(FIGURES[name])
                written.append(io.write_figure(out / f"{name}.png", fig))
                plt.close(fig)
        except NotApplicable as exc:
            skipped[name] = str(exc)
            if name in named:
                print(f"attnopt: {kind} {name} skipped: {exc}", file=sys.stderr, flush=True)
        except Exception as exc:  # noqa: BLE001 - one failing item must not stop the others
            failed.append(name)
            traceback.print_exc()
            _warn(f"{kind} {name} failed ({type(exc).__name__}: {exc}); the other items are still written")
    quiet = [n for n in skipped if n not in named]
    if quiet:
        print(f"attnopt: not applicable to these runs, so not built: {', '.join(quiet)} (name one with "
              "--tables/--figures to see why)", file=sys.stderr, flush=True)
    found = f" and experiments {', '.join(sorted(experiments))}" if experiments else ""
    print(f"report of {len(runs)} runs{found} from {root}: wrote {', '.join(str(p) for p in written)}", flush=True)
    return {"written": written, "failed": failed, "skipped": skipped, "unreadable": unreadable}


def _drop_duplicates(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per run config: a sweep re-run with resume=false into new directories leaves
    two complete runs of one config; the most recently written one is kept."""
    if "config_hash" not in runs.columns:
        return runs
    mtime = runs["run_dir"].map(lambda d: (Path(d) / "summary.json").stat().st_mtime)
    keep = runs.assign(_mtime=mtime).sort_values("_mtime", kind="stable")
    has_hash = keep["config_hash"].notna()
    deduped = pd.concat([keep[has_hash].drop_duplicates("config_hash", keep="last"), keep[~has_hash]])
    dropped = len(runs) - len(deduped)
    if dropped:
        _warn(f"{dropped} run(s) repeat the config of a newer run directory and are left out of the report")
    return deduped.drop(columns="_mtime").sort_index()


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="attnopt report",
        description="Tables (CSV + Markdown) and figures (PNG) from the run directories under DIR.",
        epilog="example: attnopt report outputs/sweeps/table1 --out outputs/report --tables table1 --figures fig1",
    )
    p.add_argument("dir", metavar="DIR", help="a sweep directory, a tree of sweeps, or one run directory")
    p.add_argument("--out", default="outputs/report", help="where to write (default: outputs/report)")
    p.add_argument("--tables", nargs="+", metavar="NAME", help="tables to build (default: all; 'none' for none)")
    p.add_argument("--figures", nargs="+", metavar="NAME", help="figures to build (default: all; 'none' for none)")
    p.add_argument("--list", action="store_true", help="list the tables and figures that can be built, then exit")
    return p


def main(args: list[str]) -> int:
    if "--list" in args:
        load_registrations()
        print("tables:  " + ", ".join(sorted(TABLES)))
        print("figures: " + ", ".join(sorted(FIGURES)))
        return 0
    p = parser()
    try:
        ns = p.parse_args(args)
    except SystemExit as exc:  # argparse already printed its one-line usage error
        return int(exc.code or 0)
    result = build_report(ns.dir, ns.out, ns.tables, ns.figures, progress=sys.stderr.isatty())
    return 1 if result["failed"] else 0


__all__ = ["build_report", "load_registrations", "main"]
