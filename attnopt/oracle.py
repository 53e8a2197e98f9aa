"""The counting, budget-enforcing wrapper every optimizer evaluates the landscape through.

Counting lives here and nowhere else: one function evaluation per point evaluated, one gradient
evaluation per gradient computed (``value_and_grad`` costs one of each). A call that would take
the total ``f_evals + g_evals`` past ``max_evals`` evaluates nothing and raises
:class:`BudgetExhausted`, so no run ever overshoots its budget. The oracle also remembers the best
point ever evaluated (trial points included), which is what ``best_loss`` reports.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from attnopt.backend import copy, to_numpy


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

    @property
    def dim(self) -> int:
        return self.landscape.dim

    @property
    def evals(self) -> int:
        return self.f_evals + self.g_evals

    def remaining(self) -> Optional[int]:
        return None if self.max_evals is None else self.max_evals - self.evals

    def _charge(self, n_f: int, n_g: int) -> None:
        if self.max_evals is not None and self.evals + n_f + n_g > self.max_evals:
            raise BudgetExhausted
        self.f_evals += n_f
        self.g_evals += n_g

    def _track(self, X: np.ndarray, values) -> None:
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

    @staticmethod
    def _rows(X: np.ndarray) -> int:
        return 1 if X.ndim == 1 else X.shape[0]

    def f(self, X: np.ndarray):
        """Loss of one point ``(d,)`` or a batch ``(n, d)``, in one call of the landscape."""
        self._charge(self._rows(X), 0)
        values = self.landscape(X)
        self._track(X, values)
        return values

    def grad(self, X: np.ndarray):
        self._charge(0, self._rows(X))
        return self.landscape.grad(X)

    def value_and_grad(self, X: np.ndarray):
        n = self._rows(X)
        self._charge(n, n)
        values, grads = self.landscape.value_and_grad(X)
        self._track(X, values)
        return values, grads
