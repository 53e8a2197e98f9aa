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
import re
import sys
import traceback
import warnings
from pathlib import Path
from typing import Iterable, Optional

import pandas as pd

from attnopt.errors import ConfigError
from attnopt.report import html, manifest
from attnopt.report.experiment import SupersededWarning, find_experiments
from attnopt.report.labels import label_variants
from attnopt.report.markdown import write_csv, write_figure, write_table
from attnopt.report.runs import RunDirWarning, load_runs
from attnopt.report.registry import EXPERIMENT_OF, FIGURES, TABLES, NotApplicable

# Modules of this package that do not register anything (importing them again is harmless anyway).
_NOT_REGISTERING = {"registry", "build", "runs", "labels", "experiment", "curves", "markdown", "manifest", "html", "style", "docs",
                    "iohprofiler"}
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


def parse_sources(items: Iterable[str | Path]) -> dict[str, Path]:
    """{label: directory} from ``DIR`` or ``LABEL=DIR`` items. A bare directory is labelled by its
    name, or by as many of its last path parts as it takes to tell it from the others."""
    pairs = []
    for item in items:
        text = str(item)
        label, sep, path = text.partition("=")
        if sep and label and "/" not in label and not Path(text).exists():
            pairs.append((label, Path(path)))
        else:
            pairs.append((None, Path(text)))
    out: dict[str, Path] = {}
    bare = [p for label, p in pairs if label is None]
    for label, path in pairs:
        if label is None:
            parts = path.resolve().parts
            for k in range(1, len(parts) + 1):
                label = "/".join(parts[-k:])
                if sum("/".join(q.resolve().parts[-k:]) == label for q in bare) == 1:
                    break
        if label in out:
            raise ConfigError(f"report source label '{label}' is given twice; label them LABEL=DIR")
        out[label] = path
    return out


def build_report(root: Path | str | Iterable[Path | str], out: Path | str | None = None,
                 tables: Optional[Iterable[str]] = None, figures: Optional[Iterable[str]] = None,
                 progress: bool = True, runs_name: str = "runs", ioh: Optional[Path] = None) -> dict:
    """Load the runs under ``root`` (one directory, or several: ``DIR`` or ``LABEL=DIR`` each) and
    write runs.csv plus the chosen tables and figures and ``index.html`` into ``out``.

    Several sources make one report in which each run keeps its source's label (the ``source``
    column; where runs of the same landscape, dimension and optimizer come from several sources,
    their optimizer label says which, ``attention [before]``). ``out`` defaults to
    ``<DIR>/report`` for one source and ``outputs/reports/<a>_vs_<b>`` for several.
    ``tables``/``figures``: names (comma-separated strings allowed), "all" or "none"; None means all.
    ``runs_name``: the per-run table's file name (without .csv), so reports of several sweeps can
    share one directory. ``ioh``: a directory to export the runs into in IOHprofiler's format
    (:mod:`attnopt.report.iohprofiler`, written by ioh's logger).
    Returns {"written": [paths], "failed": [names], "skipped": {name: reason}, "unreadable": [dirs],
    "out": the output directory}.
    """
    for module, error in load_registrations().items():
        _warn(f"report module attnopt.report.{module} failed to import, its tables/figures are missing: {error}")
    table_names = _choose(tables, TABLES, "table")
    figure_names = _choose(figures, FIGURES, "figure")
    # Items asked for by name say why they were not built; of "all", most registered items are
    # about other experiments, so those are listed in one line instead of one line each.
    named = _named(tables) | _named(figures)
    sources = parse_sources([root] if isinstance(root, (str, Path)) else root)
    if not sources:
        raise ConfigError("give at least one directory to report on")
    for path in sources.values():
        if not path.is_dir():
            raise ConfigError(f"report directory '{path}' does not exist; give a sweep or run directory")
    if out is None:
        out = (next(iter(sources.values())) / "report" if len(sources) == 1
               else Path("outputs/reports") / "_vs_".join(re.sub(r"[^\w.-]+", "-", k) for k in sources))
    from attnopt.io import check_writable

    out = Path(out)
    check_writable(out)  # before reading any run: `--out FILE` or a read-only place fails in one line
    if ioh is not None:
        from attnopt.report.iohprofiler import check_destination

        check_destination(Path(ioh))
    root = ", ".join(str(p) for p in sources.values())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RunDirWarning)
        warnings.simplefilter("always", SupersededWarning)
        runs, histories, experiments = _load_sources(sources)
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
    # Everything is built in a staging directory and moved into `out` at the end (manifest.publish)
    final_out, out = out, manifest.stage(out)
    written = []
    if not runs.empty:
        runs = _drop_duplicates(runs)
        histories = {k: v for k, v in histories.items() if k in set(runs["run_dir"])}
        written.append(write_csv(out / f"{runs_name}.csv", runs))
    # The runs an experiment directory lists are reported by that experiment's own tables; the
    # tables and figures of plain sweeps (Table 1, Figure 1, ...) leave them out.
    generic = runs[~runs["in_experiment"]] if "in_experiment" in runs else runs

    def build(fn):
        experiment = EXPERIMENT_OF.get(fn)
        if experiment is not None:
            if experiment not in experiments:
                raise NotApplicable(f"needs the results of experiment {experiment} (a directory with an "
                                    f"experiment.json naming it); none under {root}")
            return fn(experiments[experiment])
        if generic.empty:
            raise NotApplicable(f"needs run directories outside experiment directories; none under {root}")
        return fn(generic, histories)

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
                written.append(write_figure(out / f"{name}.png", fig))
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
    missing = sorted(n for n in named if n in skipped)
    if ioh is not None:
        from attnopt.report.iohprofiler import export_iohprofiler

        try:
            if generic.empty:
                raise NotApplicable(f"needs run directories outside experiment directories; none under {root}")
            files = export_iohprofiler(generic, histories, ioh, progress=progress)
            print(f"attnopt: exported {generic['run_dir'].isin(histories.keys()).sum()} runs in IOHprofiler's format "
                  f"(written by ioh's Analyzer): {len(files)} files in {ioh}", file=sys.stderr, flush=True)
        except NotApplicable as exc:
            print(f"attnopt: IOHprofiler export skipped: {exc}", file=sys.stderr, flush=True)
            missing.append("--ioh export")
    written, stale = manifest.publish(out, final_out, sources, written, [runs_name, *table_names, *figure_names])
    out = final_out
    if stale:
        _warn(f"removed {len(stale)} file(s) of the previous report of these runs that this one did not "
              f"write (so tables and figures never mix two reports): {', '.join(stale)}")
    if written:
        clobbered = manifest.record(out, sources, written, manifest.summarize(runs, experiments))
        if clobbered:
            _warn(f"replaced {len(clobbered)} file(s) in {out} that a report of other sources had written: "
                  f"{', '.join(clobbered[:6])}{', ...' if len(clobbered) > 6 else ''}")
        written.append(html.write_index(out, progress=False))
    found = f" and experiments {', '.join(sorted(experiments))}" if experiments else ""
    print(f"report of {len(runs)} runs{found} from {root}: wrote {', '.join(str(p) for p in written)}", flush=True)
    return {"written": written, "failed": failed, "skipped": skipped, "unreadable": unreadable,
            "missing": missing, "out": out}


def _load_sources(sources: dict[str, Path]) -> tuple[pd.DataFrame, dict, dict]:
    """(runs, histories, experiments) of every source; runs carry their ``source`` label and
    whether an experiment directory lists them (``in_experiment``)."""
    frames, histories, experiments = [], {}, {}
    for label, path in sources.items():
        runs, hist = load_runs(path, with_history=True, label=False)
        # before duplicates are dropped: an experiment counts every run it lists, wherever else
        # the same config was run
        found = find_experiments(path, runs, hist)
        for name, exp in found.items():
            if name in experiments:
                _warn(f"experiment {name} is in two sources; {exp.dir} is used, {experiments[name].dir} left out")
            experiments[name] = exp
        if not runs.empty:
            listed = {d for exp in found.values() for d in exp.runs.get("run_dir", [])}
            frames.append(runs.assign(source=label, in_experiment=runs["run_dir"].isin(listed)))
        histories.update(hist)
    runs = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if len(sources) == 1 and not runs.empty:
        runs = runs.drop(columns="source")
    return (label_variants(runs) if not runs.empty else runs), histories, experiments


def _drop_duplicates(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per run config: a sweep re-run with resume=false into new directories leaves
    two complete runs of one config; the most recently written one is kept."""
    if "config_hash" not in runs.columns:
        return runs
    mtime = runs["run_dir"].map(lambda d: (Path(d) / "summary.json").stat().st_mtime)
    keep = runs.assign(_mtime=mtime).sort_values("_mtime", kind="stable")
    has_hash = keep["config_hash"].notna()
    # within a source: two sources holding the same runs (before/after a change) are both kept
    key = ["source", "config_hash"] if "source" in keep else "config_hash"
    deduped = pd.concat([keep[has_hash].drop_duplicates(key, keep="last"), keep[~has_hash]])
    dropped = len(runs) - len(deduped)
    if dropped:
        _warn(f"{dropped} run(s) repeat the config of a newer run directory and are left out of the report")
    return deduped.drop(columns="_mtime").sort_index()


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="attnopt report",
        description="Tables (CSV + Markdown), figures (PNG) and index.html from the run directories under DIR.",
        epilog="examples: attnopt report outputs/sweeps/table1 --tables table1 --figures fig1\n"
               "          attnopt report before=outputs/sweeps/a after=outputs/sweeps/b",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("dirs", metavar="DIR", nargs="+",
                   help="a sweep directory, a tree of sweeps or one run directory; several make one report "
                        "in which each keeps its label (LABEL=DIR to choose the label)")
    p.add_argument("--out", help="where to write (default: DIR/report for one DIR, "
                                 "outputs/reports/<a>_vs_<b> for several)")
    p.add_argument("--runs-name", default="runs", metavar="NAME",
                   help="file name of the per-run table, without .csv (default: runs)")
    p.add_argument("--tables", nargs="+", metavar="NAME", help="tables to build (default: all; 'none' for none)")
    p.add_argument("--figures", nargs="+", metavar="NAME", help="figures to build (default: all; 'none' for none)")
    p.add_argument("--list", action="store_true", help="list the tables and figures that can be built, then exit")
    p.add_argument("--ioh", metavar="DIR", type=Path,
                   help="also export the runs in IOHprofiler's format into DIR, written by ioh's logger (zip DIR for "
                        "IOHanalyzer; iohinspector reads it as it is)")
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
    result = build_report(ns.dirs, ns.out, ns.tables, ns.figures, progress=sys.stderr.isatty(),
                          runs_name=ns.runs_name, ioh=ns.ioh)
    if result["missing"]:  # asked for by name and not built: the caller's command did not do its job
        print(f"attnopt: error: not built: {', '.join(result['missing'])} (reasons above)", file=sys.stderr)
    return 1 if result["failed"] or result["missing"] else 0


__all__ = ["build_report", "load_registrations", "main"]
