"""Rotated and shifted instances of any landscape with a known optimum (``rotate: true``,
``shift: true``).

Classic test functions put their optimum at the origin (or at 1) and most are separable, which
gives methods biased toward the origin, or toward moves along the coordinate axes, help they would
not get on a real problem. One wrapper removes both for every landscape, as BBOB does:

    f_T(x) = f(R (x - s) + x*)        grad f_T(x) = R^T grad f(R (x - s) + x*)

with ``R`` a random orthogonal matrix (Haar-distributed, or the identity without ``rotate``),
``x*`` the original optimum and ``s`` the new one (``x*`` without ``shift``). So ``x_opt = s`` and
``f_opt`` is unchanged. ``R`` and ``s`` come from ``transform_seed`` (the run seed in the shipped
configs), so different seeds give different instances of the same problem.

``s`` is drawn uniformly from the central 80% of the landscape's ``init_bounds`` box (BBOB draws
its optima from [-4, 4] of [-5, 5]), so the optimum always lies inside the region x0 is drawn from
and that box-bounded methods (dual_annealing) search.
"""
from __future__ import annotations

from typing import Annotated, Optional

import numpy as np

from attnopt.backend import to_numpy
from attnopt.errors import ConfigError
from attnopt.landscapes.base import Landscape
from attnopt.params import ge

#: the fraction of the init box (about its centre) the shifted optimum is drawn from
SHIFT_FRACTION = 0.8


def transform_options(*, rotate: bool = False, shift: bool = False,
                      transform_seed: Annotated[int, ge(0)] = 0) -> None:
    """The landscape keys every landscape accepts (this signature is their schema)."""


def random_rotation(dim: int, rng: np.random.Generator) -> np.ndarray:
    """A Haar-distributed orthogonal matrix: QR of a Gaussian matrix with the signs of R's
    diagonal moved into Q (without that correction Q is not uniformly distributed)."""
    q, r = np.linalg.qr(rng.standard_normal((dim, dim)))
    return q * np.sign(np.diag(r))


class Transformed(Landscape):
    """``base`` seen through a rotation about, and a shift of, its optimum (see module doc)."""

    def __init__(self, base: Landscape, rotate: bool = False, shift: bool = False, transform_seed: int = 0):
        super().__init__(base.dim)
        if base.x_opt is None:
            raise ConfigError(
                f"landscape.rotate/shift are invalid for '{base.name}': its optimum is not known, "
                "so the transformed optimum would not be either"
            )
        self.base, self.rotate, self.shift, self.transform_seed = base, bool(rotate), bool(shift), int(transform_seed)
        self.name = base.name
        self.init_bounds = base.init_bounds
        if rotate:
            from attnopt import memory

            # the Gaussian matrix, its QR factors and the rotation: about four d x d float64 arrays
            memory.require(4 * 8.0 * self.dim**2, f"landscape.rotate=true at dimension={self.dim} "
                                                   f"(a {self.dim} x {self.dim} rotation matrix)")
        rot_seq, shift_seq = np.random.SeedSequence(self.transform_seed).spawn(2)
        self._center = np.asarray(base.x_opt, dtype=float)
        self.R = random_rotation(self.dim, np.random.default_rng(rot_seq)) if rotate else None
        if shift:
            low, high = (np.broadcast_to(np.asarray(b, dtype=float), (self.dim,)) for b in base.init_bounds)
            mid, half = (low + high) / 2.0, SHIFT_FRACTION * (high - low) / 2.0
            self._x_opt = np.random.default_rng(shift_seq).uniform(mid - half, mid + half)
        else:
            self._x_opt = self._center.copy()

    @property
    def x_opt(self) -> np.ndarray:
        return self._x_opt.copy()

    @property
    def f_opt(self) -> Optional[float]:
        return self.base.f_opt

    @property
    def numbers_per_point(self) -> int:
        return self.base.numbers_per_point

    def to_base(self, X: np.ndarray) -> np.ndarray:
        """Map points of this landscape onto the base landscape's coordinates."""
        Y = X - self.const(self._x_opt, X)
        if self.R is not None:
            Y = Y @ self.const(self.R, X).T
        Y += self.const(self._center, X)
        return Y

    def _back(self, G: np.ndarray) -> np.ndarray:
        return G @ self.const(self.R, G) if self.R is not None else G

    def _value(self, X):
        return self.base._value(self.to_base(X))

    def _grad(self, X):
        return self._back(self.base._grad(self.to_base(X)))

    def value_and_grad(self, X):
        X, single = self._as_batch(X)
        values, grads = self.base.value_and_grad(self.to_base(X))
        grads = self._back(grads[None, :] if grads.ndim == 1 else grads)
        return (values[0], grads[0]) if single else (values, grads)

    def __repr__(self) -> str:
        return (f"Transformed({self.base!r}, rotate={self.rotate}, shift={self.shift}, "
                f"transform_seed={self.transform_seed})")


class _TransformedWithMetrics(Transformed):
    # A separate class so the runner, which asks the *type* whether metrics are overridden,
    # records no empty metric columns for landscapes without any.
    def metrics(self, x):
        return self.base.metrics(self.to_base(np.asarray(to_numpy(x), dtype=float)[None, :])[0])


def transform(base: Landscape, rotate: bool = False, shift: bool = False, transform_seed: int = 0) -> Landscape:
    """``base`` itself when neither option is set, else its rotated and/or shifted version."""
    if not (rotate or shift):
        return base
    cls = _TransformedWithMetrics if type(base).metrics is not Landscape.metrics else Transformed
    return cls(base, rotate=rotate, shift=shift, transform_seed=transform_seed)
