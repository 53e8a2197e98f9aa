"""``attnopt.ask_tell``: any registered optimizer, driven from the caller's own loop (pycma style).

    es = attnopt.ask_tell("attention", x0=np.zeros(10), seed=0, sigma=0.5)
    for _ in range(100):
        X = es.ask()                      # (n, d): evaluate them however you like
        es.tell(X, [f(x) for x in X])     # and gradients as grads=(n, d) when es.needs_grad
    es.best_x, es.best_loss

The object is a thin driver of the optimizer's pure ask/tell functions (see
:mod:`attnopt.optimizers.base`): it keeps the state, counts what it was told and remembers the
best point told. It evaluates nothing and imposes no budget; the loop is yours. With the same seed
and x0 it asks for exactly the points :func:`attnopt.minimize` would evaluate.
"""
from __future__ import annotations

from typing import Any, Optional

import numpy as np

from attnopt import optimizers
from attnopt.backend import to_numpy
from attnopt.errors import ConfigError
from attnopt.optimizers.base import Optimizer, box
from attnopt.oracle import Oracle


class AskTell:
    def __init__(self, optimizer: Optimizer, x0, bounds, rng: np.random.Generator):
        self.optimizer, self.rng = optimizer, rng
        self.state = optimizer.init(x0, bounds, rng)
        self._query = None
        self._ledger = Oracle(None)  # its best-point tracking only; nothing is evaluated through it
        self.f_evals = self.g_evals = 0
        self.iters = 0  # completed iterations (the evaluation of x0 excluded)
        self.phase: Optional[str] = None  # the phase of the last completed iteration

    def _pending(self):
        if self._query is None:
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                self.state, self._query = self.optimizer.ask(self.state, self.rng)
        return self._query

    def ask(self) -> np.ndarray:
        """The points to evaluate next, as an ``(n, d)`` array (a copy: yours to keep)."""
        X = np.asarray(to_numpy(self._pending().X), dtype=float)
        return np.array(X.reshape(1, -1) if X.ndim == 1 else X)

    @property
    def needs_grad(self) -> bool:
        """Whether the points asked for need their gradients told (``grads=``)."""
        return bool(self._pending().grad)

    @property
    def needs_values(self) -> bool:
        return bool(self._pending().value)

    def tell(self, X, values, grads=None) -> None:
        """The values (``(n,)``) and, where asked for, gradients (``(n, d)``) of the points ``X``
        that :meth:`ask` returned. Where the optimizer allows a partial batch (pycma's population),
        the first k rows of X with their k values may be told instead."""
        if self._query is None:
            raise ConfigError("tell() before ask(): ask for points first")
        query = self._query
        asked = np.asarray(to_numpy(query.X), dtype=float)
        asked = asked.reshape(1, -1) if asked.ndim == 1 else asked
        X = np.asarray(X, dtype=float)
        X = X.reshape(1, -1) if X.ndim == 1 else X
        n = X.shape[0]
        if X.shape[1:] != asked.shape[1:] or not (n == asked.shape[0] or (query.cut and 1 <= n < asked.shape[0])):
            raise ConfigError(f"tell() got X of shape {X.shape}; the points asked for have shape {asked.shape}")
        if not np.array_equal(X, asked[:n]):
            raise ConfigError("tell() got points other than those ask() returned: tell the asked points")
        if query.value:
            if values is None:
                raise ConfigError("tell() needs the values of the asked points")
            values = np.asarray(values, dtype=float).reshape(-1)
            if values.shape != (n,):
                raise ConfigError(f"tell() got {values.size} values for {n} points")
        if query.grad:
            if grads is None:
                raise ConfigError("this optimizer needs gradients (needs_grad is True): tell(X, values, grads=...)")
            grads = np.asarray(grads, dtype=float).reshape(n, -1)
            if grads.shape != X.shape:
                raise ConfigError(f"tell() got gradients of shape {grads.shape}; expected {X.shape}")
        one = query.X.ndim == 1
        got_values = None if not query.value else (values[0] if one else self._like(values, query.X))
        got_grads = None if not query.grad else (self._like(grads[0], query.X) if one else self._like(grads, query.X))
        if query.value:
            self._ledger.track(X, values)
        self.f_evals += n * int(query.value)
        self.g_evals += n * int(query.grad)
        self._query = None
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            self.state, phase = self.optimizer.tell(self.state, got_values, got_grads)
        if phase is not None:
            self.phase = phase
            if phase != "init":
                self.iters += 1

    @staticmethod
    def _like(a, ref):
        from attnopt.backend import like

        return like(np.asarray(a, dtype=float), ref)

    @property
    def best_x(self) -> Optional[np.ndarray]:
        """The best point told so far (trial points included)."""
        return None if self._ledger.best_x is None else np.array(self._ledger.best_x, dtype=float)

    @property
    def best_loss(self) -> float:
        return float(self._ledger.best_loss)

    @property
    def x(self) -> np.ndarray:
        """The optimizer's current iterate."""
        return np.asarray(to_numpy(self.state.x), dtype=float)

    @property
    def loss(self) -> float:
        return float(self.state.loss)

    def __repr__(self) -> str:
        return (f"AskTell(iters={self.iters}, f_evals={self.f_evals}, g_evals={self.g_evals}, "
                f"best_loss={self.best_loss:.6g})")


def ask_tell(optimizer: Any, x0, *, seed: int = 0, bounds=None, **params) -> AskTell:
    """An ask/tell object for ``optimizer`` (a registered name, or an Optimizer) starting at x0.

    ``bounds`` is the box restarts draw from (default [-5, 5] per coordinate); the optimizer's
    random numbers come from ``seed`` exactly as in :func:`attnopt.minimize`.
    """
    from attnopt.runner import check_bounds, check_x0, seeded_streams

    opt, _ = optimizers.resolve(optimizer, params)
    if x0 is None:
        raise ConfigError("x0 is required: ask_tell(name, x0=[...])")
    x0 = np.asarray(x0, dtype=float) if np.ndim(x0) else x0
    d = int(np.size(x0))
    x0 = check_x0(x0, d)
    low, high = check_bounds(bounds, d) if bounds is not None else box((-5.0, 5.0), d)
    _, rng = seeded_streams(seed)
    return AskTell(opt, x0, (low, high), rng)


__all__ = ["AskTell", "ask_tell"]
