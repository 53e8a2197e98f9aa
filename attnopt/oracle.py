"""The ledger: the one place where evaluations are made, counted and held to the budget.

Counting lives here and nowhere else: one function evaluation per point whose value is computed,
one gradient evaluation per gradient (``value_and_grad`` costs one of each). A driver hands every
:class:`~attnopt.optimizers.base.Query` to :meth:`Oracle.answer`; a query that would take the total
``f_evals + g_evals`` past ``max_evals`` evaluates nothing and raises :class:`BudgetExhausted`,
unless it may be cut (``Query.cut``), in which case its first rows are evaluated, as many as the
budget pays for. So no run ever overshoots its budget. The oracle also remembers the best point
ever evaluated (trial points included), which is what ``best_loss`` reports.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from attnopt.backend import copy, to_numpy
from attnopt.optimizers.base import Query


class BudgetExhausted(Exception):
    """The evaluation budget cannot pay for the requested evaluations."""


class Oracle:
    def __init__(self, landscape, max_evals: Optional[int] = None):
        self.landscape = landscape
        self.max_evals = max_evals
        self.f_evals = 0
        self.g_evals = 0
        self.best_loss = np.inf
        self.best_x: Optional[np.ndarray] = None
        self.largest_batch = 0  # rows of the largest batch evaluated so far (memory checked up to it)

    @property
    def dim(self) -> int:
        return self.landscape.dim

    @property
    def evals(self) -> int:
        return self.f_evals + self.g_evals

    def remaining(self) -> Optional[int]:
        return None if self.max_evals is None else self.max_evals - self.evals

    def track(self, X, values) -> None:
        """Remember the best finite value of a batch ``X`` (or one point) and its point."""
        # Values are n numbers: looked at on the host whatever the device (torch tensors included).
        values = to_numpy(values)
        # The usual case (nothing new is best) is decided with one ufunc call; NaN compares False.
        lowest = values if X.ndim == 1 else np.minimum.reduce(values)
        if lowest >= self.best_loss:
            return
        values = np.atleast_1d(values)
        finite = np.isfinite(values)
        if not finite.any():
            return
        i = int(np.argmin(np.where(finite, values, np.inf)))
        if values[i] < self.best_loss:
            self.best_loss = float(values[i])
            self.best_x = copy(X if X.ndim == 1 else X[i])  # in X's own array type: no device transfer

    def answer(self, query):
        """``(values, grads)`` for a query (None for what it did not ask), charged to the budget."""
        X, want_f, want_g = query.X, bool(query.value), bool(query.grad)
        per_point = int(want_f) + int(want_g)
        n = 1 if X.ndim == 1 else X.shape[0]
        left = self.remaining()
        if left is not None and n * per_point > left:
            fits = left // per_point if (query.cut and X.ndim == 2) else 0
            if fits < 1:
                raise BudgetExhausted
            X, n = X[:fits], fits
        if n > self.largest_batch:  # a batch larger than any before: can its evaluation fit?
            from attnopt import memory

            memory.check_batch(n, self.landscape, X.itemsize)
            self.largest_batch = n
        self.f_evals += n * want_f
        self.g_evals += n * want_g
        if want_f and want_g:
            values, grads = self.landscape.value_and_grad(X)
        elif want_f:
            values, grads = self.landscape(X), None
        else:
            values, grads = None, self.landscape.grad(X)
        if values is not None:
            self.track(X, values)
        return values, grads

    # Plain calls for code that evaluates by itself (attnopt.hpo's searches, tests).
    def f(self, X):
        """Loss of one point ``(d,)`` or a batch ``(n, d)``, in one call of the landscape."""
        return self.answer(Query(X))[0]

    def grad(self, X):
        return self.answer(Query(X, value=False, grad=True))[1]

    def value_and_grad(self, X):
        return self.answer(Query(X, grad=True))
