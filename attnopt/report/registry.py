"""Named tables and figures that `attnopt report` can build from what it finds under a directory.

A table is ``fn(runs: DataFrame, histories: dict[str, DataFrame]) -> DataFrame``; a figure is
``fn(runs, histories) -> matplotlib Figure``. One registered with ``experiment="name"`` is built
instead from that experiment's directory (see :func:`attnopt.report.find_experiments`):
``fn(results: ExperimentResults)``, and is skipped where no such directory is found. Modules
register theirs with the decorators, so the report command needs no list of special cases.
"""
from __future__ import annotations

from typing import Callable, Optional

TABLES: dict[str, Callable] = {}
FIGURES: dict[str, Callable] = {}
#: registered function -> the experiment whose directory it is built from
EXPERIMENT_OF: dict[Callable, str] = {}


def _register(registry: dict, name: str, experiment: Optional[str]):
    def register(fn):
        registry[name] = fn
        if experiment is not None:
            EXPERIMENT_OF[fn] = experiment
        return fn

    return register


def table(name: str, experiment: Optional[str] = None):
    return _register(TABLES, name, experiment)


def figure(name: str, experiment: Optional[str] = None):
    return _register(FIGURES, name, experiment)


class NotApplicable(Exception):
    """Raised by a table or figure whose runs are not in the loaded set (e.g. table4 over a
    Table 1 sweep); the report skips it with a note instead of failing."""
