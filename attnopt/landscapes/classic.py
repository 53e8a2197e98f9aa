"""Classic test functions (report section 2.1.1, plus Rosenbrock).

All are written so that every dimension from 1 to well beyond 100,000 gives finite values:
Ackley uses means rather than sums, and Griewank's cosine product is formed from prefix/suffix
products so its gradient never divides by a cosine that underflowed or is zero.

Formulas use the array-API namespace ``xp`` of their input, so they run unchanged on numpy arrays
and torch tensors (:mod:`attnopt.backend`).
"""
from __future__ import annotations

import numpy as np

from attnopt.backend import namespace, rowsum
from attnopt.landscapes.base import Landscape

TWO_PI = 2.0 * np.pi


def _sqnorm(X: np.ndarray) -> np.ndarray:
    """Row-wise squared norms in one call without a temporary (einsum parses its spec in Python)."""
    return namespace(X).vecdot(X, X)


class _ZeroOptimum(Landscape):
    @property
    def x_opt(self):
        return np.zeros(self.dim)

    @property
    def f_opt(self):
        return 0.0


class Sphere(_ZeroOptimum):
    r"""Sphere, :math:`f(x) = \sum_i x_i^2`.

    Convex and unimodal. Domain for x0: [-5.12, 5.12]^d. Optimum: x* = 0, f* = 0.
    """

    name = "sphere"
    init_bounds = (-5.12, 5.12)

    def _value(self, X):
        return _sqnorm(X)

    def _grad(self, X):
        return 2.0 * X


class Rastrigin(_ZeroOptimum):
    r"""Rastrigin, :math:`f(x) = 10 d + \sum_i [x_i^2 - 10 \cos(2\pi x_i)]`.

    Highly multimodal, a regular grid of local minima near the integers. Domain for x0:
    [-5.12, 5.12]^d. Optimum: x* = 0, f* = 0.
    """

    name = "rastrigin"
    init_bounds = (-5.12, 5.12)

    def _value(self, X):
        return _sqnorm(X) - 10.0 * rowsum(namespace(X).cos(TWO_PI * X)) + 10.0 * self.dim

    def _grad(self, X):
        return 2.0 * X + 20.0 * np.pi * namespace(X).sin(TWO_PI * X)


class Ackley(_ZeroOptimum):
    r"""Ackley, :math:`f(x) = -20 e^{-0.2\sqrt{\frac1d\sum x_i^2}} - e^{\frac1d\sum\cos 2\pi x_i} + 20 + e`.

    Multimodal with a nearly flat outer region. Domain for x0: [-32.768, 32.768]^d.
    Optimum: x* = 0, f* = 0. The gradient at x = 0 (where the square root is not differentiable)
    is taken as 0.
    """

    name = "ackley"
    init_bounds = (-32.768, 32.768)

    def _parts(self, X):
        xp = namespace(X)
        r = xp.sqrt(_sqnorm(X) / self.dim)
        c = rowsum(xp.cos(TWO_PI * X)) / self.dim
        return r, c

    def _value(self, X):
        xp = namespace(X)
        r, c = self._parts(X)
        # Grouped as 20 (1 - e^{-0.2 r}) + (e - e^c) so both terms vanish exactly at the optimum.
        # clip at 0: in float32, exp(1) rounds below e and would leave -2e-7 at the optimum.
        return xp.clip(20.0 * -xp.expm1(-0.2 * r) + (np.e - xp.exp(c)), min=0.0)

    def _grad(self, X):
        xp = namespace(X)
        r, c = self._parts(X)
        safe_r = xp.where(r > 0, r, 1.0)
        radial = xp.where(r > 0, 4.0 * xp.exp(-0.2 * r) / (self.dim * safe_r), 0.0)
        return radial[:, None] * X + (TWO_PI / self.dim) * xp.exp(c)[:, None] * xp.sin(TWO_PI * X)


class Griewank(_ZeroOptimum):
    r"""Griewank, :math:`f(x) = 1 + \frac{1}{4000}\sum_i x_i^2 - \prod_i \cos(x_i/\sqrt{i})`.

    Many shallow local minima whose amplitude fades with distance. Domain for x0: [-600, 600]^d.
    Optimum: x* = 0, f* = 0.
    """

    name = "griewank"
    init_bounds = (-600.0, 600.0)

    def __init__(self, dim: int):
        super().__init__(dim)
        self._inv_sqrt_i = 1.0 / np.sqrt(np.arange(1, self.dim + 1, dtype=np.float64))

    def _value(self, X):
        xp = namespace(X)
        prod = xp.prod(xp.cos(X * self.const(self._inv_sqrt_i, X)), axis=1)
        return xp.clip(1.0 + _sqnorm(X) / 4000.0 - prod, min=0.0)

    def _grad(self, X):
        xp = namespace(X)
        inv_sqrt_i = self.const(self._inv_sqrt_i, X)
        Z = X * inv_sqrt_i
        cos = xp.cos(Z)
        # prod_{i != j} cos_i as prefix * suffix products: exact even where cos_j is 0 or the
        # whole product underflows, unlike prod / cos_j.
        prefix = xp.cumulative_prod(cos[:, :-1], axis=1, include_initial=True)
        suffix = xp.flip(xp.cumulative_prod(xp.flip(cos[:, 1:], axis=1), axis=1, include_initial=True), axis=1)
        return X / 2000.0 + xp.sin(Z) * inv_sqrt_i * prefix * suffix


class Rosenbrock(Landscape):
    r"""Rosenbrock, :math:`f(x) = \sum_{i=1}^{d-1} [100 (x_{i+1} - x_i^2)^2 + (1 - x_i)^2]`.

    A curved, narrow valley. Domain for x0: [-5, 10]^d. Optimum: x* = (1, ..., 1), f* = 0.
    For d = 1 the sum is empty, so the function is defined as (1 - x_1)^2, keeping x* = 1.
    """

    name = "rosenbrock"
    init_bounds = (-5.0, 10.0)

    @property
    def x_opt(self):
        return np.ones(self.dim)

    @property
    def f_opt(self):
        return 0.0

    def _value(self, X):
        if self.dim == 1:
            return (1.0 - X[:, 0]) ** 2
        head, tail = X[:, :-1], X[:, 1:]
        return rowsum(100.0 * (tail - head**2) ** 2 + (1.0 - head) ** 2)

    def _grad(self, X):
        if self.dim == 1:
            return -2.0 * (1.0 - X)
        head, tail = X[:, :-1], X[:, 1:]
        inner = tail - head**2
        g = namespace(X).zeros_like(X)
        g[:, :-1] = -400.0 * head * inner - 2.0 * (1.0 - head)
        g[:, 1:] += 200.0 * inner
        return g
