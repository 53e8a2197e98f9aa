"""The report's testbed (section 2.2): a regression loss with a sine-wave trap on ||w||^2."""
from __future__ import annotations

from typing import Annotated, Optional

import numpy as np

from attnopt.backend import namespace
from attnopt.landscapes.base import Landscape
from attnopt.params import ge, gt


# Bounds on the optimum search's cost (it runs on first use of f_opt, i.e. in every run): the
# numbers of its radius grid (ten points per period of the trap over every radius that could win)
# and the rings left to refine, ~70 ms each. Both grow with scale_osc (and the grid with the
# dimension): at d = 3, scale_osc = 5 refines 3 rings in 0.2 s, 80 refines ~60 in 4-8 s (a busy
# machine), 100 would refine 78 and 1,000 take over a minute. Beyond the bounds the optimum is left
# unknown (f_opt None) instead.
MAX_GRID_NUMBERS = 20_000_000
MAX_RINGS = 64
MAX_DOUBLINGS = 64


class Trapped(Landscape):
    r"""``loss_non_convex_trapped``: :math:`f(w) = \frac1n\|A w - y\|^2 + \lambda \sin(s \|w\|^2)`.

    ``A = [1, X]`` is a column of ones (the bias, ``w_0``) and ``dim - 1`` standard-normal features;
    ``y = A w_true + noise * N(0, 1)`` with ``w_true ~ N(0, 2^2)``. Data are drawn from
    ``data_seed`` (so the problem is fixed across optimizer seeds unless you tie it to ``seed``).
    The report's setup is the default: ``dim = 3`` (w_0, w_1, w_2), 100 samples.

    The trap's gradient, ``2 lambda s cos(s ||w||^2) w``, dwarfs the MSE's gentle slope, so gradient
    descent stops in the nearest ring-shaped valley. Domain for x0: [-5, 5]^d. The defaults
    (lambda 1, s 5) make the trap's curvature about 4 lambda s^2 ||w||^2 ~ 1,300 near the optimum,
    so GD is stable for lr below ~1.5e-3 and then reliably trapped (1e-3 is a fair choice).

    **Optimum.** Not known in closed form, but computed exactly up to a 1-D search: the oscillation
    depends on w only through ``r = ||w||^2``, so a global minimiser minimises the MSE on its own
    sphere ``||w||^2 = r``. That is a trust-region subproblem whose solution is
    ``w(mu) = (H + mu I)^{-1} b`` (H, b: the MSE's Hessian/2 and A^T y / n). We scan r on a grid ten
    times finer than the trap's period over every radius that could beat the least-squares point,
    solve for mu at each r by bisection, refine the best r with a bounded scalar search and polish
    with L-BFGS. This ignores only the measure-zero "hard case" of the subproblem. The result is
    cached per landscape (``x_opt``, ``f_opt``). Its cost grows with ``scale_osc``: where the grid
    or the rings to refine exceed :data:`MAX_GRID_NUMBERS` / :data:`MAX_RINGS` (scale_osc beyond
    ~90 at d = 3), the optimum is reported unknown (None) rather than searched for minutes.
    """

    name = "trapped"
    init_bounds = (-5.0, 5.0)

    def __init__(
        self,
        dim: int = 3,
        n_samples: Annotated[int, gt(0)] = 100,
        noise: Annotated[float, ge(0)] = 0.5,
        lambda_osc: Annotated[float, ge(0)] = 1.0,
        scale_osc: Annotated[float, gt(0)] = 5.0,
        data_seed: Annotated[int, ge(0)] = 0,
    ):
        super().__init__(dim)
        from attnopt import memory

        # the data A (n x d) with its features, and H (d x d) where d <= n
        memory.require(8.0 * (3 * n_samples * dim + (2 * dim**2 if dim <= n_samples else 0)),
                       f"landscape=trapped with dimension={dim}, landscape.n_samples={n_samples} "
                       f"(its {n_samples} x {dim} data)")
        self.n_samples, self.noise = int(n_samples), float(noise)
        self.lambda_osc, self.scale_osc, self.data_seed = float(lambda_osc), float(scale_osc), int(data_seed)
        rng = np.random.default_rng(self.data_seed)
        features = rng.standard_normal((self.n_samples, self.dim - 1))
        self.A = np.hstack([np.ones((self.n_samples, 1)), features])
        self.w_true = rng.normal(0.0, 2.0, size=self.dim)
        self.y = self.A @ self.w_true + self.noise * rng.standard_normal(self.n_samples)
        # With d <= n, MSE(w) = w^T H w - 2 b^T w + c costs O(d^2) per point instead of O(n d);
        # beyond that (up to d = 100,000 and more) the d x d matrix H would not even fit in memory.
        self._gram = self.dim <= self.n_samples
        self.b = self.A.T @ self.y / self.n_samples
        if self._gram:
            self.H = self.A.T @ self.A / self.n_samples
            self.c = float(self.y @ self.y) / self.n_samples

    def mse(self, X):
        X, single = self._as_batch(X)
        xp = namespace(X)
        if self._gram:
            out = xp.vecdot(X @ self.const(self.H, X), X) - 2.0 * X @ self.const(self.b, X) + self.c
        else:
            residual = X @ self.const(self.A, X).T - self.const(self.y, X)
            out = xp.vecdot(residual, residual) / self.n_samples
        return out[0] if single else out

    def _mse_grad(self, X):
        if self._gram:
            return 2.0 * (X @ self.const(self.H, X) - self.const(self.b, X))
        A = self.const(self.A, X)
        return (2.0 / self.n_samples) * (X @ A.T - self.const(self.y, X)) @ A

    def _value(self, X):
        r = namespace(X).vecdot(X, X)
        return self.mse(X) + self.lambda_osc * namespace(X).sin(self.scale_osc * r)

    def _grad(self, X):
        xp = namespace(X)
        r = xp.vecdot(X, X)
        trap = 2.0 * self.lambda_osc * self.scale_osc * xp.cos(self.scale_osc * r)
        return self._mse_grad(X) + trap[:, None] * X

    # --- the global optimum ------------------------------------------------------------------
    def _compute_optimum(self) -> Optional[tuple[np.ndarray, float]]:
        if not self._gram:
            return self._underdetermined_optimum()
        from scipy.optimize import minimize, minimize_scalar

        lam, Q = np.linalg.eigh(self.H)
        beta = Q.T @ self.b
        lo_mu = -lam[0]
        span = 1.0 + abs(lam).max() + np.abs(beta).max()

        def w_on_sphere(r: np.ndarray) -> np.ndarray:
            """Minimiser of the MSE on ||w||^2 = r, for each r (vectorised bisection on mu)."""
            r = np.atleast_1d(r)
            lo = np.full(r.shape, np.log(1e-14 * span))  # log(mu - lo_mu)
            hi = np.full(r.shape, np.log(1e10 * span))
            for _ in range(200):
                mid = 0.5 * (lo + hi)
                radius2 = ((beta / (lam + lo_mu + np.exp(mid)[:, None])) ** 2).sum(axis=1)
                too_big = radius2 > r  # ||w(mu)|| shrinks as mu grows
                lo = np.where(too_big, mid, lo)
                hi = np.where(too_big, hi, mid)
            mu = lo_mu + np.exp(0.5 * (lo + hi))
            return (beta / (lam + mu[:, None])) @ Q.T

        w_ls = np.linalg.solve(self.H, self.b)
        f_upper = float(self(w_ls))
        r_ls = float(w_ls @ w_ls)
        r_max = 2.0 * r_ls + 1.0
        for _ in range(MAX_DOUBLINGS):
            if float(self.mse(w_on_sphere(r_max)[0])) - self.lambda_osc >= f_upper:
                break
            r_max *= 2.0
        else:
            return None  # the trap is so deep that no radius can be ruled out
        period = 2.0 * np.pi / self.scale_osc
        n_grid = np.ceil(10 * r_max / period) + 2
        if n_grid * self.dim > MAX_GRID_NUMBERS:
            return None
        grid = np.linspace(0.0, r_max, int(n_grid))
        W = w_on_sphere(grid)
        values = self(W)
        # A grid point can miss its ring's bottom by up to lambda (1 - cos(s h / 2)) ~ 0.05 lambda
        # (h: grid step), so neighbouring rings closer than that may swap places on the grid:
        # refine every grid-local minimum that could still be the global one, not just the lowest.
        slack = self.lambda_osc * (1.0 - np.cos(self.scale_osc * (grid[1] - grid[0]) / 2.0)) + 1e-9
        padded = np.concatenate([[np.inf], values, [np.inf]])
        local = np.flatnonzero((values <= padded[:-2]) & (values <= padded[2:]))
        candidates = local[values[local] <= values.min() + 2.0 * slack]
        if len(candidates) > MAX_RINGS:
            return None
        best, best_value = None, np.inf
        for i in candidates:
            lo, hi = grid[max(i - 1, 0)], grid[min(i + 1, len(grid) - 1)]
            res = minimize_scalar(lambda r: float(self(w_on_sphere(r)[0])), bounds=(lo, hi), method="bounded",
                                  options={"xatol": 1e-12})
            w0 = w_on_sphere(res.x)[0]
            polished = minimize(lambda w: float(self(w)), w0, jac=lambda w: self.grad(w), method="L-BFGS-B",
                                options={"ftol": 1e-15, "gtol": 1e-12})
            for w in (w0, polished.x):
                value = float(self(w))
                if value < best_value:
                    best, best_value = w, value
        return best, best_value

    def _underdetermined_optimum(self) -> tuple[np.ndarray, float]:
        """d > n: the MSE is 0 on an affine subspace that holds points of every ||w||^2 >= that of
        the minimum-norm solution, so the optimum is exactly -lambda, at the first radius beyond it
        where sin(s r) = -1."""
        AAt = self.A @ self.A.T
        w_mn = self.A.T @ np.linalg.solve(AAt, self.y)
        r_mn = float(w_mn @ w_mn)
        k = np.ceil((self.scale_osc * r_mn - 1.5 * np.pi) / (2 * np.pi))
        r_star = (1.5 * np.pi + 2 * np.pi * max(k, 0.0)) / self.scale_osc
        z = np.random.default_rng(self.data_seed).standard_normal(self.dim)
        null = z - self.A.T @ np.linalg.solve(AAt, self.A @ z)
        w = w_mn + np.sqrt(max(r_star - r_mn, 0.0)) * null / np.linalg.norm(null)
        return w, float(self(w))

