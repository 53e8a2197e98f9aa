"""Atomic writes of run outputs: a reader sees a whole file or none, never half of one.

Each file is written to a temporary name in the same directory and renamed into place (rename is
atomic on POSIX filesystems). What goes into a run directory, and in which order, is
:mod:`attnopt.rundir`'s business.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable

import numpy as np


def _default_file_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


_FILE_MODE = _default_file_mode()


def atomic_write(path: Path | str, write: Callable[[Path], Any]) -> Path:
    """Call ``write(tmp_path)`` and rename the result onto ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, _FILE_MODE)  # mkstemp makes 0600; results should be as readable as any file
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_text(path: Path | str, text: str) -> Path:
    return atomic_write(path, lambda p: p.write_text(text))


def _json_default(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"cannot serialise {type(obj).__name__}")


def write_json(path: Path | str, data: Any) -> Path:
    return write_text(path, json.dumps(data, indent=2, default=_json_default, allow_nan=True) + "\n")


def write_csv(path: Path | str, table) -> Path:
    """Write a DataFrame, or a dict of equal-length columns (numpy arrays), as CSV.

    pandas writes each float as its shortest round-trip repr: read back bit-identical, and 0.3
    stays 0.3 (a fixed %.17g wrote 0.29999999999999999). A dict is written with the csv module in
    exactly pandas' format (missing values empty), so a single run writes its history without
    importing pandas (~0.4 s).
    """
    if hasattr(table, "to_csv"):
        return atomic_write(path, lambda p: table.to_csv(p, index=False))
    return atomic_write(path, lambda p: _write_columns(p, table))


def _csv_cell(value) -> str:
    if isinstance(value, float):
        return "" if value != value else repr(value)  # NaN -> empty, as pandas writes it
    return "" if value is None else str(value)


def _write_columns(path: Path, columns: dict) -> None:
    import csv

    names = list(columns)
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(names)
        # tolist(): numpy scalars become Python ints, floats and strs, whose str/repr pandas also writes
        writer.writerows(zip(*([_csv_cell(v) for v in columns[name].tolist()] for name in names)))


def write_figure(path: Path | str, fig, tight: bool = True, dpi=120) -> Path:
    """Save a figure atomically. ``tight``: crop to what is drawn (a second full draw of the figure;
    a figure laid out with fixed margins, as the per-run loss.png, does without); ``dpi``: a number,
    or "figure" for the figure's own."""
    bbox = "tight" if tight else None
    return atomic_write(path, lambda p: fig.savefig(p, format=Path(path).suffix.lstrip(".") or "png", dpi=dpi,
                                                    bbox_inches=bbox))


def check_writable(directory) -> None:
    """Fail before any run when the output directory cannot be created or written (Hydra would
    otherwise die with a traceback after composing)."""
    from attnopt.errors import ConfigError

    if directory is None:
        return
    path = Path(str(directory)).absolute()
    probe = path
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir():
        raise ConfigError(f"cannot write outputs to {path}: {probe} is not a directory")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise ConfigError(f"cannot write outputs to {path}: {probe} is not writable")
    import tempfile

    try:  # permission bits do not tell root (or /proc, a read-only mount) the answer: try it
        os.rmdir(tempfile.mkdtemp(prefix=".attnopt-probe-", dir=probe))
    except OSError as exc:
        raise ConfigError(f"cannot write outputs to {path}: {probe} refuses new entries ({exc.strerror})") from None
