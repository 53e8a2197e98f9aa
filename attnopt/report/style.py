"""One look per optimizer across every figure: a colour and a line style. Up to 16 optimizers in a
figure each get a colour of their own (the compare grid has 15), and the line style changes with
every neighbour in the order, so that even a reader who cannot tell two colours apart tells the
lines apart; beyond 16, colours repeat, but never with the same style."""
from __future__ import annotations

import numpy as np

#: attnopt's own optimizers first, then the outside baselines: the usual names keep their look
#: from figure to figure
KNOWN = ["gd", "attention", "hybrid1", "hybrid2", "hybrid3", "hybrid4", "adam", "sgd", "attention_explore",
         "attention_ipop", "attention_cma", "hybrid_cma", "cma", "dual_annealing", "basinhopping", "learned"]
#: matplotlib's ten "tab" colours, then six that none of them resembles (black, navy, magenta,
#: teal, maroon, olive)
_COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22",
           "#7f7f7f", "#000000", "#000075", "#f032e6", "#469990", "#800000", "#808000"]
_LINES = ["-", "--", "-.", ":"]
#: legend handles long enough to show a dash-dot pattern (matplotlib's default of 2 shows a dash)
HANDLE_LENGTH = 3.5


#: the report's order of landscapes, which every table and figure follows (fig1's rows, the ECDFs'
#: panels, the compare table); variants such as ``rastrigin (rotate, shift)`` follow their base
LANDSCAPES = ["sphere", "rastrigin", "ackley", "griewank", "rosenbrock", "trapped"]


def ordered_landscapes(names) -> list[str]:
    """Landscape (problem) names in LANDSCAPES' order, each variant after its base name, then the
    others alphabetically."""
    names = list(dict.fromkeys(str(n) for n in names))

    def key(n: str):
        base, _, variant = n.partition(" ")
        return (LANDSCAPES.index(base) if base in LANDSCAPES else len(LANDSCAPES), base, variant)

    return sorted(names, key=key)


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
    i mod 16 and line style i mod 4: two names with the same colour (i and i + 16) differ in style
    (16 is a multiple of 4, so they would not: the style then shifts by one per round)."""
    n_c, n_l = len(_COLORS), len(_LINES)
    return {n: dict(color=_COLORS[i % n_c], ls=_LINES[(i + i // n_c) % n_l]) for i, n in enumerate(ordered(names))}


def grid_shape(n: int, max_cols: int = 4) -> tuple[int, int]:
    """(rows, cols) of a near-square grid for n panels, at most max_cols wide."""
    cols = min(max_cols, max(1, int(np.ceil(np.sqrt(n)))))
    return int(np.ceil(n / cols)), cols


__all__ = ["styles", "ordered", "grid_shape", "KNOWN", "HANDLE_LENGTH"]
