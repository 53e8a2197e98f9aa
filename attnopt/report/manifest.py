"""What each report wrote into an output directory, so that reports sharing one directory (the make
targets all write to outputs/report) neither overwrite each other's files silently nor lose track
of them: ``report.json`` records, per file, the sources and settings of the report that wrote it,
and ``index.html`` is built from it.
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Iterable, Optional

import pandas as pd

from attnopt import io

MANIFEST = "report.json"


def read(out: Path | str) -> dict:
    """{"reports": [{"sources": {label: dir}, "summary": {...}, "files": [names], "time": ...}]},
    empty when there is none or it cannot be read (it is rebuilt by the next report)."""
    try:
        data = json.loads((Path(out) / MANIFEST).read_text())
    except (OSError, json.JSONDecodeError):
        return {"reports": []}
    if not isinstance(data, dict) or not isinstance(data.get("reports"), list):
        return {"reports": []}
    return data


def _sources_key(sources: dict) -> list:
    return sorted([str(k), str(Path(v).resolve())] for k, v in sources.items())  # lists: as JSON reads them back


def record(out: Path | str, sources: dict, written: Iterable[Path], summary: Optional[dict] = None) -> list[str]:
    """Add this report's files to the manifest of ``out``. Returns the names of files it replaced
    that a report of *other* sources had written (a rerun of the same report replaces its own
    files without a word)."""
    out = Path(out)
    names = [Path(p).name for p in written]
    key = _sources_key(sources)
    data = read(out)
    clobbered, kept = [], []
    for report in data["reports"]:
        same = report.get("key") == key
        theirs = [f for f in report.get("files", []) if f in names]
        if theirs and not same:
            clobbered.extend(theirs)
        remaining = [f for f in report.get("files", []) if f not in names]
        if remaining and not same:
            kept.append({**report, "files": remaining})
    kept.append({"key": key, "sources": {str(k): str(v) for k, v in sources.items()}, "summary": summary or {},
                 "files": names, "time": time.strftime("%Y-%m-%d %H:%M:%S")})
    io.write_json(out / MANIFEST, {"reports": kept})
    return sorted(set(clobbered))


STAGING_PREFIX = ".staging-"


def stage(out: Path | str) -> Path:
    """A fresh hidden directory inside ``out`` to build a report in: a report that fails part-way
    (or is killed) then leaves the previous report's files as they were. Directories left by
    reports that were killed (their process is gone) are removed first."""
    import os
    import shutil
    import tempfile

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob(f"{STAGING_PREFIX}*"):
        try:
            pid = int(old.name[len(STAGING_PREFIX):].split("-")[0])
            if pid != os.getpid():  # this process's own: an earlier report here that was interrupted
                os.kill(pid, 0)  # raises unless that process is still running (a report in progress)
                continue
        except (ValueError, ProcessLookupError):
            pass
        except PermissionError:  # alive, another user's
            continue
        shutil.rmtree(old, ignore_errors=True)
    return Path(tempfile.mkdtemp(prefix=f"{STAGING_PREFIX}{os.getpid()}-", dir=out))


def publish(staged: Path, out: Path | str, sources: dict, written: Iterable[Path],
            attempted: Iterable[str]) -> tuple[list[Path], list[str]]:
    """Move a report's files from ``staged`` into ``out`` (each by an atomic rename) and remove the
    files of ``attempted`` items (tables, figures, the runs table: names without suffix) that the
    previous report of the same sources wrote and this one did not (the item failed or no longer
    applies), so no table or figure of an older report stays beside the new runs table. Items not
    attempted (a report of --tables table1 only) keep their files. Returns (the files' new paths,
    the names removed)."""
    import os
    import shutil

    out = Path(out)
    moved = []
    for path in written:
        target = out / Path(path).relative_to(staged)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(path, target)
        moved.append(target)
    names = {p.name for p in moved}
    key = _sources_key(sources)
    previous = {f for r in read(out)["reports"] if r.get("key") == key for f in r.get("files", [])}
    attempted = set(attempted)
    stale = sorted(f for f in previous - names if Path(f).stem in attempted and (out / f).is_file())
    for name in stale:
        (out / name).unlink()
    shutil.rmtree(staged, ignore_errors=True)
    return moved, stale


def summarize(runs: pd.DataFrame, experiments: dict) -> dict:
    """The settings a reader needs next to the numbers: how many runs and seeds, of what."""
    if runs.empty:
        return {"runs": 0, "experiments": sorted(experiments)}

    def values(column: str) -> list:
        if column not in runs:
            return []
        vals = pd.Series(runs[column]).dropna().unique().tolist()
        try:
            return sorted(vals)
        except TypeError:
            return sorted(map(str, vals))

    seeds = values("seed")
    return {
        "runs": int(len(runs)),
        "seeds": len(seeds),
        "seed_values": [int(s) if float(s).is_integer() else s for s in seeds] if seeds else [],
        "landscapes": values("landscape"),
        "dimensions": [int(d) for d in values("dimension")],
        "optimizers": values("optimizer"),
        "max_evals": [int(v) for v in values("budget.max_evals")],
        "max_iters": [int(v) for v in values("budget.max_iters")],
        "experiments": sorted(experiments),
    }


__all__ = ["MANIFEST", "read", "record", "stage", "publish", "summarize"]
