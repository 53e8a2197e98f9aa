"""What every landscape provides.

A landscape is a batched objective: ``f(X)`` maps an ``(n, d)`` array to ``(n,)`` values and
``f.grad(X)`` to the ``(n, d)`` analytic gradient; a single ``(d,)`` point gives a scalar / ``(d,)``.
Subclasses implement only ``_value`` and ``_grad`` on 2-D float arrays; the shape handling lives
here so that no landscape re-implements it.

Points may be numpy arrays or torch tensors (any device, float32 or float64): formulas use the
array-API namespace of their input (:func:`attnopt.backend.namespace`) and numpy constants are
converted once per device and dtype by :meth:`Landscape.const`, so the result has the input's type.
"""
from __future__ import annotations

from functools import cached_property
from typing import Optional

import numpy as np

from attnopt import backend
from attnopt.errors import ConfigError


class Landscape:
    name: str = "landscape"
    #: the box x0 is drawn from when no x0 is given: (low, high), broadcast over coordinates
    init_bounds: tuple[float, float] = (-5.0, 5.0)

    def __init__(self, dim: int):
        if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)) or dim < 1:
            raise ConfigError(f"dimension={dim!r} is invalid: must be an integer >= 1")
        self.dim = int(dim)

    @property
    def numbers_per_point(self) -> int:
        """How many numbers evaluating one point holds besides the constants: the point itself
        here; a task's activations on every training sample too (attnopt.memory's estimates)."""
        return self.dim

    def _compute_optimum(self) -> Optional[tuple[np.ndarray, float]]:
        """(x*, f*) where the optimum is known or computable; None where it is not. Called at most
        once per landscape, on first use of ``x_opt``/``f_opt``."""
        return None

    @cached_property
    def _optimum(self) -> Optional[tuple[np.ndarray, float]]:
        return self._compute_optimum()

    @property
    def x_opt(self) -> Optional[np.ndarray]:
        return None if self._optimum is None else self._optimum[0].copy()

    @property
    def f_opt(self) -> Optional[float]:
        return None if self._optimum is None else self._optimum[1]

    def _value(self, X: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _grad(self, X: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def const(self, array: np.ndarray, X):
        """The numpy constant ``array`` (data, scales) in ``X``'s backend, dtype and device,
        converted once per device and dtype (numpy float64 input gets ``array`` itself)."""
        if isinstance(X, np.ndarray) and array.dtype == X.dtype:
            return array
        cache = self.__dict__.setdefault("_const_cache", {})
        key = (id(array), str(getattr(X, "device", "cpu")), str(X.dtype))
        if key not in cache:
            cache[key] = (array, backend.like(array, X))  # keeps ``array`` alive so its id stays unique
        return cache[key][1]

    def _as_batch(self, X):
        if not isinstance(X, np.ndarray) and hasattr(X, "device"):  # a torch tensor: stays one
            if not X.is_floating_point():
                X = X.double()
        else:
            X = np.asarray(X)
            if X.dtype.kind not in "fc":
                X = X.astype(np.float64)
        single = X.ndim == 1
        if single:
            X = X[None, :]
        if X.ndim != 2 or X.shape[1] != self.dim:
            raise ValueError(
                f"{self.name}: expected points of shape (n, {self.dim}) or ({self.dim},), got {tuple(X.shape)}")
        return X, single

    def __call__(self, X):
        X, single = self._as_batch(X)
        out = self._value(X)
        return out[0] if single else out

    def grad(self, X):
        X, single = self._as_batch(X)
        out = self._grad(X)
        return out[0] if single else out

    def value_and_grad(self, X):
        """Both at once; landscapes override it where sharing work pays."""
        return self(X), self.grad(X)

    def metrics(self, x: np.ndarray) -> dict[str, float]:
        """Extra per-iterate numbers for the history (e.g. a validation loss); not counted as
        evaluations because no optimizer sees them. Landscapes without any return {}."""
        return {}

    def sample_x0(self, rng: np.random.Generator) -> np.ndarray:
        low, high = self.init_bounds
        return rng.uniform(low, high, size=self.dim)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(dim={self.dim})"
