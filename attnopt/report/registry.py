"""Named tables and figures that `attnopt report` can build from loaded runs.

A table is ``fn(runs: DataFrame, histories: dict[str, DataFrame]) -> DataFrame``; a figure is
``fn(runs, histories) -> matplotlib Figure``. Modules register theirs with the decorators, so the
report command needs no list of special cases.
"""
from __future__ import annotations

from typing import Callable

TABLES: dict[str, Callable] = {}
FIGURES: dict[str, Callable] = {}


def table(name: str):
    def register(fn):
        TABLES[name] = fn
        return fn

    return register


def figure(name: str):
    def register(fn):
        FIGURES[name] = fn
        return fn

    return register


class NotApplicable(Exception):
    """Raised by a table or figure whose runs are not in the loaded set (e.g. table4 over a
    Table 1 sweep); the report skips it with a note instead of failing."""
