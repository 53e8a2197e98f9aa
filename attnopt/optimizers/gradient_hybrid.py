"""``hybrid_cma``: attention-search exploration, gradient-descent exploitation (report section 1.3).

The report's hypothesis is that attention search's global exploration and gradient descent's
local exploitation do better together than apart. This hybrid gives each part the job it is good
at, with no scale to set by hand:

1. **explore** with :mod:`.metric_search` (attention search with a learned metric, CMA-ES): trials
   around the mean, rank weights, adapted step size and covariance. Its step size shrinks as the
   search settles into a basin;
2. **exploit** with gradient descent, each time the distribution's largest axis
   ``sigma * max(D)`` has shrunk below another level: ``descend_at`` of its initial size, then
   every further factor sqrt(10), down to ``restart_at``. The descent is L-BFGS (quasi-Newton
   gradient descent, a memory of ``memory`` steps) with a backtracking Armijo line search, so its
   step adapts to the landscape's curvature instead of a fixed learning rate; its first step is as
   long as the search's current step size. Each step asks its point's value and gradient (1
   function + 1 gradient evaluation). It stops when it no longer improves (relative change below
   1e-13, twice), when the line search fails, or after ``descent_iters`` * d queries. At a
   restart's first level the search still spans several basins (on trapped, several of its
   rings; on Rastrigin, several cells), and which one the mean lies in is close to a coin toss, so
   ``first_descents`` descents start there side by side: from the mean and from the generation's
   best ``first_descents - 1`` trials, one batched query per step for all of them; the lowest
   minimum they reach is the restart's. Later levels descend from the mean only (the search has
   settled in one basin by then, and its trials with it). An early descent often finishes the run
   in the right basin long before sampling would resolve the last digits; when it does not (it
   found a local minimum), the search goes on where it was, since a longer search often still
   moves to a better basin (Griewank's near-optimal minima);
3. **restart** (IPOP) after the descent at ``restart_at`` or when a CMA stopping rule holds: start
   again from a uniform point of the init box with ``incpopsize`` times the trials.

Every evaluation is a query to the driver, so a gradient counts as one evaluation in the runner's
``f_evals + g_evals``. The descent is written as pure functions too (:func:`descent_start`,
:func:`descent_query`, :func:`descent_tell`), one point per step; the descents that run side by
side are a tuple of them, asked and told in one batch.
"""
from __future__ import annotations

import math
from typing import Annotated, Any, NamedTuple, Optional

import numpy as np

from attnopt.optimizers import metric_search as acma
from attnopt.optimizers.base import Optimizer, Query
from attnopt.params import ge, gt, le, takes

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


def lowest(runs) -> Descent:
    """The descent at the lowest point (a NaN or infinite value counts as the highest)."""
    return min(runs, key=lambda ds: ds.f if math.isfinite(ds.f) else math.inf)


class HybridCMAState(NamedTuple):
    x: np.ndarray  # the latest evaluated point: best trial of a generation, or the lowest descent's point
    loss: float
    search: acma.Search
    restarts: int
    descent: Optional[tuple] = None  # the descents (a Descent each) that run side by side in the gradient phase
    level: float = 1.0  # the search's size (fraction of its initial one) that triggers the next descent
    final: bool = False  # the running descents are this restart's last
    bounds: Any = None
    # "start" (x0 asked), "" (between steps), "gen" (a generation asked), "mean" (the descents'
    # starting points asked, value and gradient, in the generation's iteration: the settled mean,
    # and at a restart's first level the best trials too), "descent" (the running descents' points)
    stage: str = "start"
    asked: Any = None
    restart_due: bool = False  # the next ask starts afresh from a uniform point of the box


#: the search's size shrinks by this factor between two descents of one restart (half a decade)
LEVEL_STEP = math.sqrt(10.0)


@takes(acma.IPOP_OPTIONS)
def hybrid_cma(
    *,
    descend_at: Annotated[float, gt(0), le(1)] = 0.1,
    restart_at: Annotated[float, gt(0), le(1)] = 0.003,
    memory: Annotated[int, gt(0)] = 10,
    descent_iters: Annotated[int, gt(0)] = 50,
    first_descents: Annotated[int, gt(0)] = 4,
    **options,
) -> Optimizer:
    """Attention search with a learned metric (CMA-ES, IPOP) for exploration, L-BFGS gradient
    descent for exploitation; see the module doc. ``n_trials`` 0: 4 + 3 ln d; ``sigma`` a
    fraction of the init box's width. The first descent starts once the search distribution has
    shrunk to ``descend_at`` of its initial size; the search then goes on, with another descent
    at every further shrink by sqrt(10), and restarts after the descent at ``restart_at`` (or when
    a CMA stopping rule holds). ``descent_iters`` * d queries at most per descent. At the first
    level ``first_descents`` descents run side by side, from the mean and the generation's best
    ``first_descents - 1`` trials (1: from the mean alone)."""

    ipop = acma.IPOP(**acma.IPOP_OPTIONS.pick(options))

    def restart_state(state, x, loss):
        # the new start is drawn by the next ask, where the generator is
        return HybridCMAState(x, loss, state.search, state.restarts + 1, None, descend_at, False, state.bounds, "",
                              restart_due=True), "restart"

    def init(x0, bounds, rng):
        x0 = np.asarray(x0, dtype=float)
        return HybridCMAState(x0, float("nan"), ipop.search(x0, bounds, 0), 0, level=descend_at, bounds=bounds)

    def descent_starts(s, X, losses, level):
        """Where the descents start: the mean, and at a restart's first level (the search still
        spans several basins) also the best first_descents - 1 trials of the generation."""
        k = first_descents if level >= descend_at else 1
        order = np.argsort(np.where(np.isnan(losses), np.inf, losses), kind="stable")
        return np.vstack([s.mean[None], X[order[: k - 1]]])

    def after_descent(state, runs):
        """The restart's last descent: restart; an earlier one: the search goes on, the next
        descent half a decade further down."""
        ds = lowest(runs)
        if state.final and state.restarts < ipop.restarts:
            return restart_state(state, ds.x, ds.f)
        return HybridCMAState(ds.x, ds.f, state.search, state.restarts, None, state.level / LEVEL_STEP, False,
                              state.bounds, ""), "gd"

    def ask(state, rng):
        if state.stage == "start":
            return state, Query(state.x)
        if state.stage == "mean":
            return state, Query(state.asked[2], grad=True, cut=True)
        if state.restart_due:
            state = state._replace(search=ipop.restart(state.bounds, state.restarts, rng), restart_due=False)
        if state.descent is not None:
            X = np.stack([descent_query(ds) for ds in state.descent if not ds.done])
            return state._replace(stage="descent"), Query(X, grad=True, cut=True)
        Y, X = acma.sample(state.search, rng)
        return state._replace(stage="gen", asked=(Y, X)), acma.generation_query(X)

    def tell(state, values, grads):
        if state.stage == "start":
            return state._replace(loss=float(values), stage=""), "init"
        if state.stage == "descent":
            # one answer per running descent, in order (the last ones missing where the budget cut
            # the query: those descents stay where they were; the run ends there)
            values, grads = np.asarray(values, dtype=float).reshape(-1), np.asarray(grads, dtype=float)
            runs, j = [], 0
            for ds in state.descent:
                if not ds.done and j < len(values):
                    ds = descent_tell(ds, float(values[j]), grads[j], memory, descent_iters * len(state.x))
                    j += 1
                runs.append(ds)
            if all(ds.done for ds in runs):
                return after_descent(state, runs)
            best = lowest(runs)
            return state._replace(x=best.x, loss=best.f, descent=tuple(runs), stage=""), "gd"
        if state.stage == "mean":
            s, final, X0 = state.asked
            values, grads = np.asarray(values, dtype=float).reshape(-1), np.asarray(grads, dtype=float)
            step = s.sigma * float(np.mean(s.D)) * s.k.chi_d
            runs = tuple(descent_start(X0[i].copy(), float(values[i]), grads[i], step) for i in range(len(values)))
            best = lowest(runs)
            state = HybridCMAState(best.x, best.f, s, state.restarts, runs, state.level, final, state.bounds, "")
            return after_descent(state, runs) if all(r.done for r in runs) else (state, "gd")
        Y, X = state.asked
        losses = np.asarray(values, dtype=float)
        x, loss = acma.best_of(X[: len(losses)], losses)
        if len(losses) < len(X):
            return state._replace(x=x, loss=loss, stage=""), "attention"
        s = acma.update(state.search, Y, losses)
        stop = bool(acma.stop_reasons(s, losses))
        if stop or acma.settled(s, state.level):  # descend from the mean, in this same iteration
            final = stop or state.level / LEVEL_STEP < restart_at * (1 - 1e-9)
            return state._replace(stage="mean", asked=(s, final, descent_starts(s, X, losses, state.level))), None
        return HybridCMAState(x, loss, s, state.restarts, None, state.level, False, state.bounds, ""), "attention"

    return Optimizer(init, ask, tell, any_backend=False)


__all__ = ["hybrid_cma", "Descent", "descent_start", "descent_query", "descent_tell", "direction"]
