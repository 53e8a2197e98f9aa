"""Tables written for people and programs: CSV with every digit, Markdown to read."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from attnopt import io

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


def write_table(frame: pd.DataFrame, out_dir: Path | str, name: str, legend: str | None = None) -> tuple[Path, Path]:
    """Write ``name.csv`` (every digit) and ``name.md`` (for reading) into ``out_dir``, atomically.

    A table may carry, in ``frame.attrs``, a ``"markdown"`` frame (the same rows as people read
    them: spreads "median [IQR]" or successes "7/10" in one cell) and a ``"legend"``: one line under
    the Markdown table saying what its columns are."""
    out_dir = Path(out_dir)
    shown = frame.attrs.get("markdown", frame)
    legend = legend or frame.attrs.get("legend")
    frame = frame.copy()
    frame.attrs = {}
    csv = write_csv(out_dir / f"{name}.csv", frame)
    md = io.write_text(out_dir / f"{name}.md", to_markdown(shown) + (f"\n{legend}\n" if legend else ""))
    return csv, md


def write_csv(path: Path | str, frame: pd.DataFrame) -> Path:
    """CSV whose floats are their shortest round-trip repr (0.3, not 0.29999999999999999)."""
    return io.atomic_write(path, lambda p: frame.to_csv(p, index=False))


#: set on a figure whose margins are laid out already (fixed, in inches): saving it skips the
#: "tight" bounding box, which draws the whole figure a second time just to measure it
FIXED_LAYOUT = "_attnopt_fixed_layout"


def write_figure(path: Path | str, fig) -> Path:
    if getattr(fig, FIXED_LAYOUT, False):
        return io.atomic_write(path, lambda p: fig.savefig(p, format="png", dpi=120))
    return io.write_figure(path, fig)


# --- cells as a reader expects them --------------------------------------------------------------


def number(x, digits: int = 3) -> str:
    """A float to ``digits`` significant digits; an integral count as an integer with separators."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return ""
    if isinstance(x, (int, np.integer)) or (isinstance(x, (float, np.floating)) and float(x).is_integer()
                                             and abs(x) >= 1 and abs(x) < 1e15):
        return f"{int(x):,}"
    return f"{float(x):.{digits}g}"


def median_iqr(median, q25, q75) -> str:
    """"median [q25, q75]" in one cell."""
    return f"{number(median)} [{number(q25)}, {number(q75)}]"


def mean_std(mean, std) -> str:
    """"mean ± std" in one cell (std blank for a single run)."""
    return number(mean) if std is None or (isinstance(std, float) and math.isnan(std)) else f"{number(mean)} ± {number(std)}"


def fraction(k, n) -> str:
    """Successes as "7/10"."""
    return "" if n is None or (isinstance(n, float) and math.isnan(n)) else f"{int(k)}/{int(n)}"
