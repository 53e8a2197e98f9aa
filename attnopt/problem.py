"""What :func:`attnopt.minimize` accepts as a problem, turned into a :class:`Landscape`.

A Landscape passes through; a name is built with :func:`attnopt.landscapes.make`; a plain Python
callable is wrapped in :class:`Function`: ``fun(x) -> float`` for one point ``x`` of shape ``(d,)``
(or, with ``vectorized=True``, ``fun(X) -> (n,)`` for a batch ``(n, d)``, which is one call for all
trial points instead of one per point). Gradients come from ``grad=`` (same convention), or from
``fun`` itself with ``jac=True`` (scipy's: ``fun`` returns ``(value, gradient)``).
"""
from __future__ import annotations

from typing import Callable, Optional

import numpy as np

from attnopt.errors import ConfigError
from attnopt.landscapes.base import Landscape


class Function(Landscape):
    """A user's callable as a batched landscape (counted and budgeted like any other)."""

    name = "function"

    def __init__(self, fun: Callable, dim: int, *, grad: Optional[Callable] = None, returns_grad: bool = False,
                 vectorized: bool = False):
        super().__init__(dim)
        self.fun, self._gradient, self.returns_grad, self.vectorized = fun, grad, returns_grad, vectorized
        self.name = getattr(fun, "__name__", "function")

    def _values(self, out, n: int) -> np.ndarray:
        values = np.asarray(out, dtype=float)
        if values.shape not in ((n,), (n, 1)) and not (n == 1 and values.size == 1):
            what = f"a batch of {n} points" if self.vectorized else "one point"
            raise ConfigError(f"fun returned an array of shape {values.shape} for {what}: it must return "
                              f"{'one number per point' if self.vectorized else 'one number'}")
        return values.reshape(n)

    def _call(self, X):
        if self.vectorized:
            out = self.fun(X)
            return out if self.returns_grad else (out, None)
        outs = [self.fun(x) for x in X]  # the user's function takes one point: one call per point
        if self.returns_grad:
            return [o[0] for o in outs], np.stack([np.asarray(o[1], dtype=float) for o in outs])
        return outs, None

    def _value(self, X):
        values, _ = self._call(X)
        return self._values(values, X.shape[0])

    def _grad(self, X):
        if self.returns_grad:
            return self._grads(self._call(X)[1], X.shape)
        if self._gradient is None:
            raise ConfigError("this optimizer needs gradients and the function has none: pass grad=callable "
                              "(or jac=True when fun returns (value, gradient)), or choose a gradient-free "
                              "optimizer such as attention or cma")
        if self.vectorized:
            return self._grads(self._gradient(X), X.shape)
        return self._grads(np.stack([np.asarray(self._gradient(x), dtype=float) for x in X]), X.shape)

    def _grads(self, out, shape) -> np.ndarray:
        grads = np.asarray(out, dtype=float)
        if grads.size != shape[0] * shape[1]:
            raise ConfigError(f"the gradient has shape {grads.shape}; expected {shape[1]} numbers per point")
        return grads.reshape(shape)

    def value_and_grad(self, X):
        if not self.returns_grad:
            return super().value_and_grad(X)
        X, single = self._as_batch(X)
        values, grads = self._call(X)
        values, grads = self._values(values, X.shape[0]), self._grads(grads, X.shape)
        return (values[0], grads[0]) if single else (values, grads)


def as_landscape(fun, *, x0=None, bounds=None, dim: Optional[int] = None, grad=None, jac=None,
                 vectorized: bool = False) -> Landscape:
    """``fun`` (a Landscape, a landscape name, or a callable) as a Landscape of the right dimension."""
    from attnopt import landscapes

    gradient = grad if grad is not None else (jac if callable(jac) else None)
    if grad is not None and callable(jac):
        raise ConfigError("grad= and jac= are the same thing: pass one of them")
    if jac not in (None, False, True) and not callable(jac):
        raise ConfigError(f"jac={jac!r} is invalid: pass a callable, or True when fun returns (value, gradient)")
    if isinstance(fun, Landscape):
        if gradient is not None or jac is True or vectorized:
            raise ConfigError("grad=, jac= and vectorized= are for a plain function; a Landscape has its own gradient")
        return fun
    d = _dimension(x0, bounds, dim)
    if isinstance(fun, str):
        if d is None:
            raise ConfigError(f"the dimension of landscape '{fun}' is unknown: pass x0=, bounds= or dim=")
        return landscapes.make(fun, d)
    if not callable(fun):
        raise ConfigError(f"fun={fun!r} is invalid: pass a callable (one point -> float), a Landscape, or a "
                          f"landscape name ({', '.join(landscapes.names())})")
    if d is None:
        raise ConfigError("the dimension of fun is unknown: pass x0= (or bounds=, or dim=)")
    return Function(fun, d, grad=gradient, returns_grad=jac is True, vectorized=bool(vectorized))


def _dimension(x0, bounds, dim) -> Optional[int]:
    if dim is not None:
        return dim
    if x0 is not None:
        size = np.size(np.asarray(x0, dtype=object))
        return int(size) if size else None
    if bounds is not None:
        arr = np.asarray(bounds, dtype=object)
        if arr.ndim == 2 and arr.shape[1] == 2 and arr.shape[0] != 2:
            return int(arr.shape[0])
        if arr.ndim == 2 and arr.shape[0] == 2:
            return int(arr.shape[1])
    return None
