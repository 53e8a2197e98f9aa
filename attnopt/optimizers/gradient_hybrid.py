"""``hybrid_cma``: attention-search exploration, gradient-descent exploitation (report section 1.3).

The report's hypothesis is that attention search's global exploration and gradient descent's
local exploitation do better together than apart. This hybrid gives each part the job it is good
at, with no scale to set by hand:

1. **explore** with :mod:`.metric_search` (attention search with a learned metric, CMA-ES): trials
   around the mean, rank weights, adapted step size and covariance. Its step size shrinks as the
   search settles into one basin; once the distribution's largest axis
   ``sigma * max(D)`` is below ``descend_at`` times its initial value (or a CMA stopping rule
   holds), the basin is found and sampling would only spend evaluations on the last digits;
2. **exploit** with gradient descent from the mean: L-BFGS (quasi-Newton gradient descent, a
   memory of ``memory`` steps) with a backtracking Armijo line search, so its step adapts to the
   landscape's curvature instead of a fixed learning rate. Each query is one point's value and
   gradient (1 function + 1 gradient evaluation). It stops when it no longer improves (relative
   change below 1e-13, twice), when the line search fails, or after ``descent_iters`` * d queries;
3. **restart** (IPOP): the descent has found its basin's minimum, which is all the attention phase
   would have converged to, so the search starts again from a uniform point of the init box with
   ``incpopsize`` times the trials.

Every evaluation goes through the oracle, so a gradient counts as one evaluation in the runner's
``f_evals + g_evals``. The descent is written as pure functions too (:func:`descent_start`,
:func:`descent_query`, :func:`descent_tell`), one query per step.
"""
from __future__ import annotations

import math
from typing import Annotated, NamedTuple, Optional

import numpy as np

from attnopt.optimizers import metric_search as acma
from attnopt.optimizers.base import Optimizer
from attnopt.params import ge, gt, le

ARMIJO = 1e-4  # sufficient-decrease constant of the line search (Nocedal & Wright's usual value)
FTOL = 1e-13  # relative improvement below which a descent step counts as no progress


class Descent(NamedTuple):
    """L-BFGS with backtracking: the accepted point, its value and gradient, the curvature pairs,
    the current direction and the step along it that the next query tries."""

    x: np.ndarray
    f: float
    g: np.ndarray
    S: tuple = ()  # steps s_k (most recent last)
    Yg: tuple = ()  # gradient changes y_k
    p: Optional[np.ndarray] = None
    t: float = 1.0
    queries: int = 0
    flat: int = 0  # consecutive accepted steps without relative progress
    done: bool = False


def direction(g: np.ndarray, S: tuple, Yg: tuple) -> np.ndarray:
    """L-BFGS's two-loop recursion: -H g with H the memory's inverse-Hessian estimate."""
    q = g.copy()
    alphas = []
    for s, y in zip(reversed(S), reversed(Yg)):
        a = (s @ q) / (y @ s)
        alphas.append(a)
        q -= a * y
    if S:
        q *= (S[-1] @ Yg[-1]) / (Yg[-1] @ Yg[-1])
    for (s, y), a in zip(zip(S, Yg), reversed(alphas)):
        q += (a - (y @ q) / (y @ s)) * s
    return -q


def descent_start(x: np.ndarray, f: float, g: np.ndarray, step_length: float) -> Descent:
    """Start at x; the first step is steepest descent of length ``step_length`` (the attention
    phase's current step size: how far the basin's minimum can be)."""
    norm = float(np.linalg.norm(g))
    if not (math.isfinite(f) and np.all(np.isfinite(g))) or norm == 0.0:
        return Descent(x, f, g, done=True)
    return Descent(x, f, g, p=-g, t=step_length / norm)


def descent_query(ds: Descent) -> np.ndarray:
    return ds.x + ds.t * ds.p


def descent_tell(ds: Descent, f: float, g: np.ndarray, memory: int, max_queries: int) -> Descent:
    """Accept the queried point if it decreases f enough (Armijo), else shorten the step."""
    queries = ds.queries + 1
    slope = float(ds.g @ ds.p)
    x_new = ds.x + ds.t * ds.p
    if math.isfinite(f) and f <= ds.f + ARMIJO * ds.t * slope and np.all(np.isfinite(g)):
        s, y = x_new - ds.x, g - ds.g
        S, Yg = ds.S, ds.Yg
        if s @ y > 1e-12 * float(np.linalg.norm(s) * np.linalg.norm(y)):  # keep H positive definite
            S, Yg = (S + (s,))[-memory:], (Yg + (y,))[-memory:]
        flat = ds.flat + 1 if ds.f - f <= FTOL * max(abs(ds.f), 1e-300) else 0
        p = direction(g, S, Yg)
        if not float(g @ p) < 0.0:  # not a descent direction (rounding): steepest descent
            S, Yg, p = (), (), -g
        t = 1.0 if S else ds.t * float(np.linalg.norm(ds.p)) / max(float(np.linalg.norm(g)), 1e-300)
        done = flat >= 2 or queries >= max_queries or not np.any(g)
        return Descent(x_new, f, g, S, Yg, p, t, queries, flat, done)
    # Reject: the minimiser of the quadratic through f(x), f'(x) and f(x + t p), kept in
    # [t/10, t/2] (a NaN or inf value just halves t).
    t = ds.t
    denom = 2.0 * (f - ds.f - t * slope)
    guess = -slope * t * t / denom if math.isfinite(f) and denom > 0 else 0.5 * t
    t = min(max(guess, 0.1 * t), 0.5 * t)
    tiny = t * float(np.linalg.norm(ds.p)) <= 1e-15 * (1.0 + float(np.linalg.norm(ds.x)))
    if tiny and ds.S:  # the memory misleads: forget it and go downhill
        return ds._replace(S=(), Yg=(), p=-ds.g, t=ds.t * float(np.linalg.norm(ds.p)) / float(np.linalg.norm(ds.g)),
                           queries=queries)
    return ds._replace(t=t, queries=queries, done=tiny or queries >= max_queries)


class HybridCMAState(NamedTuple):
    x: np.ndarray  # the latest evaluated point: best trial of a generation, or the descent's point
    loss: float
    search: acma.Search
    restarts: int
    descent: Optional[Descent] = None  # set while the gradient phase runs


def hybrid_cma(
    *,
    n_trials: Annotated[int, ge(0)] = 0,
    sigma: Annotated[float, gt(0)] = 0.2,
    restarts: Annotated[int, ge(0)] = 30,
    incpopsize: Annotated[float, ge(1), le(100)] = 2.0,
    descend_at: Annotated[float, gt(0), le(1)] = 1e-2,
    memory: Annotated[int, gt(0)] = 10,
    descent_iters: Annotated[int, gt(0)] = 50,
) -> Optimizer:
    """Attention search with a learned metric (CMA-ES, IPOP) for exploration, L-BFGS gradient
    descent for exploitation; see the module doc. ``n_trials`` 0: 4 + 3 ln d; ``sigma`` a
    fraction of the init box's width; ``descend_at``: hand over to gradient descent once the search
    distribution has shrunk to this fraction of its initial size; ``descent_iters`` * d queries at
    most per descent."""

    def fresh(x0, oracle, restart: int) -> acma.Search:
        n = int(round((n_trials or acma.default_trials(oracle.dim)) * incpopsize**restart))
        return acma.start(x0, acma.initial_sigma(oracle, sigma), max(n, 2))

    def restart_state(state, oracle, rng, x, loss):
        low, high = acma.box(oracle)
        r = state.restarts + 1
        return HybridCMAState(x, loss, fresh(rng.uniform(low, high), oracle, r), r), "restart"

    def init(x0, oracle, rng):
        x0 = np.asarray(x0, dtype=float)
        return HybridCMAState(x0, float(oracle.f(x0)), fresh(x0, oracle, 0), 0)

    def step(state, oracle, rng):
        s, ds = state.search, state.descent
        if ds is not None:
            f, g = oracle.value_and_grad(descent_query(ds))
            ds = descent_tell(ds, float(f), g, memory, descent_iters * oracle.dim)
            if ds.done:
                if state.restarts < restarts:
                    return restart_state(state, oracle, rng, ds.x, ds.f)
                ds = None  # no restart left: the attention phase goes on where it was
            return state._replace(x=ds.x if ds else state.x, loss=ds.f if ds else state.loss, descent=ds), "gd"
        Y, X = acma.sample(s, rng)
        losses, complete = acma.evaluate(oracle, X)
        x, loss = acma.best_of(X, losses)
        if not complete:
            return state._replace(x=x, loss=loss), "attention"
        s = acma.update(s, Y, losses)
        settled = s.sigma * float(s.D.max()) < descend_at * s.sigma0
        if settled or acma.stop_reasons(s, losses):
            f, g = oracle.value_and_grad(s.mean)
            ds = descent_start(s.mean.copy(), float(f), g, s.sigma * float(np.mean(s.D)) * s.k.chi_d)
            if not ds.done:
                return HybridCMAState(ds.x, ds.f, s, state.restarts, ds), "gd"
            if state.restarts < restarts:
                return restart_state(state, oracle, rng, ds.x, ds.f)
        return HybridCMAState(x, loss, s, state.restarts), "attention"

    return Optimizer(init, step, any_backend=False)


__all__ = ["hybrid_cma", "Descent", "descent_start", "descent_query", "descent_tell", "direction"]
