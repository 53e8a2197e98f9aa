"""One look per optimizer across every figure: a colour and a line style, so that no two optimizers
of a figure are drawn alike (with more than ten, colours repeat, but never with the same style)."""
from __future__ import annotations

import numpy as np

#: attnopt's own optimizers first, then the outside baselines: the usual names keep their look
#: from figure to figure
KNOWN = ["gd", "attention", "hybrid1", "hybrid2", "hybrid3", "hybrid4", "adam", "sgd", "attention_explore",
         "attention_ipop", "cma", "dual_annealing", "basinhopping", "learned"]
_COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22",
           "#7f7f7f"]
_LINES = ["-", "--", "-.", ":"]


def ordered(names) -> list[str]:
    """Known optimizers in KNOWN's order (variants such as ``attention (sigma=0.1)`` after their
    base name), then the others alphabetically."""
    names = list(dict.fromkeys(str(n) for n in names))

    def key(n: str):
        base = n.split(" ", 1)[0]
        return (KNOWN.index(base) if base in KNOWN else len(KNOWN), base, n)

    return sorted(names, key=key)


def styles(names) -> dict[str, dict]:
    """{name: dict(color=..., ls=...)} for matplotlib's plot(**style). The i-th name gets colour
    i mod 10 and line style i mod 4: two names with the same colour (i and i + 10) differ in style."""
    return {n: dict(color=_COLORS[i % len(_COLORS)], ls=_LINES[i % len(_LINES)]) for i, n in enumerate(ordered(names))}


def grid_shape(n: int, max_cols: int = 4) -> tuple[int, int]:
    """(rows, cols) of a near-square grid for n panels, at most max_cols wide."""
    cols = min(max_cols, max(1, int(np.ceil(np.sqrt(n)))))
    return int(np.ceil(n / cols)), cols


__all__ = ["styles", "ordered", "grid_shape", "KNOWN"]
