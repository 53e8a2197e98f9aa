"""Curves over runs: histories stacked on a common grid, their quantiles, a median line with its
inter-quartile band."""
from __future__ import annotations

from typing import Iterable, Optional

import numpy as np
import pandas as pd

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
                shift: float = 0.0, band: bool = True, **plot_kw):
    """Plot the median over runs with a shaded inter-quartile band (``band=False``: the median
    alone, e.g. for a single run, where a "band" would be a line); returns the median line."""
    if grid is None:
        hi = max(((h["f_evals"] + h["g_evals"]).iloc[-1] if x == "evals" else h[x].iloc[-1]) for h in histories)
        grid = np.unique(np.geomspace(1, max(hi, 1), 400).round()) if x == "evals" else np.arange(0, hi + 1)
    stacked = curves_on_grid(histories, x, y, grid) - shift
    lo, med, hi = nanquantiles(stacked, [0.25, 0.5, 0.75])
    (line,) = ax.plot(grid, med, label=label, **plot_kw)
    if band:
        ax.fill_between(grid, lo, hi, color=line.get_color(), alpha=0.2, linewidth=0)
    return line
