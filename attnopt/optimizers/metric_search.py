"""Attention search with a learned metric: CMA-ES's sampling, weights and adaptation, with restarts.

Attention search draws trial points around x, weighs them and moves x to their weighted average.
``attention_cma`` keeps that loop and learns what the plain search fixes by hand:

- **trials** ``x_i = m + sigma * B D z_i`` (z_i ~ N(0, I)): Gaussian around the mean ``m``, shaped
  by a learned covariance ``C = B D^2 B^T`` (the metric) and scaled by a learned step size;
- **weights**: CMA-ES's log-rank weights (the best half positive, ``ln((n+1)/2) - ln(rank)``),
  scale-free like ``weighting=rank``; the worse half gets the small negative weights of active
  CMA, used only to shrink C along bad directions;
- **move** ``m <- sum_i alpha_i x_i`` (the attention average, eta = 1); the mean itself is never
  evaluated (every evaluation is a trial), so a step costs exactly n_trials evaluations;
- **metric and step size**: rank-one + rank-mu covariance update and cumulative step-size
  adaptation (CSA), with the learning rates of Hansen's tutorial (arXiv:1604.00772, active variant);
- **restarts** (IPOP): when pycma's stopping rules hold (tolfun, tolx, stagnation, no effect of
  an axis or coordinate, condition number of C, a diverging sigma), start again from a uniform
  point of the init box with the initial sigma and ``incpopsize`` times the trials;
- **narrowing** (the one addition to IPOP-CMA-ES): a restart's large population is what finds a
  good basin of a rugged landscape (it averages over many local minima), but once the search has
  settled in the basin, descending it with the large population costs many times the evaluations
  a small one needs. So when the distribution has shrunk below ``narrow_at`` of its initial size
  the restart goes on with the base number of trials, keeping its mean, step size and metric.

So this is IPOP-CMA-ES plus narrowing, written as pure functions over explicit state (in the
manner of pycma's ``purecma.py``): :func:`constants` (what depends only on d and n),
:func:`sample` (ask), :func:`update` (tell), :func:`stop_reasons`, :func:`narrow`. ``sigma`` is a
fraction of the init box's width, as for ``cma``; with ``narrow_at=0`` the two agree in
distribution, not draw for draw.

:mod:`attnopt.optimizers.gradient_hybrid` builds the gradient hybrid on these functions.
"""
from __future__ import annotations

import math
from typing import Annotated, Any, NamedTuple

import numpy as np

from attnopt.optimizers.base import Optimizer, Query
from attnopt.params import Family, ge, gt, le, takes

#: pycma's default tolerances (tolx is relative to the initial sigma here, so it is scale-free)
TOLFUN = 1e-11
TOLX = 1e-11
MAX_CONDITION = 1e14
TOLUPSIGMA = 1e20


class Constants(NamedTuple):
    """What depends only on the dimension d and the number of trials n (CMA's lambda)."""

    n: int
    mu: int  # trials with positive weight
    weights: np.ndarray  # (n,), sorted best first; positive part sums to 1, negative part for C only
    mu_eff: float
    c_sigma: float
    d_sigma: float
    c_c: float
    c_1: float
    c_mu: float
    chi_d: float  # E||N(0, I_d)||
    eigen_every: int  # generations between eigendecompositions of C


def constants(d: int, n: int) -> Constants:
    """CMA-ES's weights and learning rates (Hansen 2016, eqs. 49-58, with active weights; c_mu
    with pycma's +0.25 in the numerator, so c_1, c_mu, c_c and the weights equal pycma's)."""
    mu = n // 2
    raw = math.log((n + 1) / 2.0) - np.log(np.arange(1, n + 1))
    pos, neg = raw[:mu], raw[mu:]
    mu_eff = float(pos.sum() ** 2 / (pos @ pos))
    c_sigma = (mu_eff + 2.0) / (d + mu_eff + 5.0)
    d_sigma = 1.0 + 2.0 * max(0.0, math.sqrt((mu_eff - 1.0) / (d + 1.0)) - 1.0) + c_sigma
    c_c = (4.0 + mu_eff / d) / (d + 4.0 + 2.0 * mu_eff / d)
    c_1 = 2.0 / ((d + 1.3) ** 2 + mu_eff)
    c_mu = min(1.0 - c_1, 2.0 * (0.25 + mu_eff - 2.0 + 1.0 / mu_eff) / ((d + 2.0) ** 2 + mu_eff))  # pycma
    weights = np.zeros(n)
    weights[:mu] = pos / pos.sum()
    if neg.size and neg.sum() < 0.0:
        mu_eff_neg = float(neg.sum() ** 2 / (neg @ neg))
        scale = min(1.0 + c_1 / c_mu if c_mu > 0 else math.inf,
                    1.0 + 2.0 * mu_eff_neg / (mu_eff + 2.0),
                    (1.0 - c_1 - c_mu) / (d * c_mu) if c_mu > 0 else math.inf)
        weights[mu:] = scale * neg / -neg.sum()
    chi_d = math.sqrt(d) * (1.0 - 1.0 / (4.0 * d) + 1.0 / (21.0 * d * d))
    eigen_every = max(1, int(1.0 / ((c_1 + c_mu) * d * 10.0)))
    return Constants(n, mu, weights, mu_eff, c_sigma, d_sigma, c_c, c_1, c_mu, chi_d, eigen_every)


class Search(NamedTuple):
    """One CMA-ES run between restarts: the sampling distribution N(mean, sigma^2 C) and the
    histories its stopping rules look at."""

    k: Constants
    mean: np.ndarray
    sigma: float
    C: np.ndarray
    B: np.ndarray  # eigenvectors of C (columns)
    D: np.ndarray  # square roots of C's eigenvalues
    p_sigma: np.ndarray
    p_c: np.ndarray
    gen: int
    sigma0: float
    best_hist: tuple = ()  # best loss of each generation (most recent last, bounded)
    median_hist: tuple = ()  # median loss of each generation (bounded)
    reason: str = ""  # why the last eigendecomposition failed, if it did


def start(mean: np.ndarray, sigma0: float, n: int) -> Search:
    d = mean.shape[0]
    eye = np.eye(d)
    return Search(constants(d, n), np.array(mean, dtype=float), float(sigma0), eye.copy(), eye.copy(), np.ones(d),
                  np.zeros(d), np.zeros(d), 0, float(sigma0))


def sample(s: Search, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The next generation's trials: ``(Y, X)``, Y = B D z (unit-sigma steps), X = mean + sigma Y."""
    Z = rng.standard_normal((s.k.n, s.mean.shape[0]))
    Y = (Z * s.D) @ s.B.T
    return Y, s.mean + s.sigma * Y


def update(s: Search, Y: np.ndarray, losses: np.ndarray) -> Search:
    """Tell: move the mean to the weighted average of the best trials, adapt the step size (CSA)
    and the metric C (rank-one + active rank-mu), keep the stopping rules' histories."""
    k = s.k
    d = s.mean.shape[0]
    order = np.argsort(np.where(np.isnan(losses), np.inf, losses), kind="stable")
    Ys = Y[order]
    w = k.weights
    y_w = w[:k.mu] @ Ys[:k.mu]
    mean = s.mean + s.sigma * y_w  # = sum_i alpha_i x_i over the positively weighted trials
    inv_sqrt_y = s.B @ ((s.B.T @ y_w) / s.D)  # C^(-1/2) y_w
    p_sigma = (1.0 - k.c_sigma) * s.p_sigma + math.sqrt(k.c_sigma * (2.0 - k.c_sigma) * k.mu_eff) * inv_sqrt_y
    gen = s.gen + 1
    norm_ps = float(np.linalg.norm(p_sigma))
    h_sigma = norm_ps / math.sqrt(1.0 - (1.0 - k.c_sigma) ** (2 * gen)) < (1.4 + 2.0 / (d + 1.0)) * k.chi_d
    p_c = (1.0 - k.c_c) * s.p_c + h_sigma * math.sqrt(k.c_c * (2.0 - k.c_c) * k.mu_eff) * y_w
    # Active update: the negative weights are rescaled by d / ||C^(-1/2) y_i||^2 so that C stays
    # positive definite whatever the length of a bad step.
    w_c = w.copy()
    if k.n > k.mu:
        bad = Ys[k.mu:]
        mahal = np.sum(((bad @ s.B) / s.D) ** 2, axis=1)
        w_c[k.mu:] *= d / np.maximum(mahal, 1e-300)
    delta = (1.0 - h_sigma) * k.c_c * (2.0 - k.c_c)
    C = ((1.0 + k.c_1 * delta - k.c_1 - k.c_mu * float(w.sum())) * s.C + k.c_1 * np.outer(p_c, p_c)
         + k.c_mu * (Ys.T * w_c) @ Ys)
    sigma = s.sigma * math.exp(min(1.0, (k.c_sigma / k.d_sigma) * (norm_ps / k.chi_d - 1.0)))
    B, D, reason = s.B, s.D, ""
    if gen % k.eigen_every == 0:
        C = np.triu(C) + np.triu(C, 1).T  # exactly symmetric
        try:
            eigval, B = np.linalg.eigh(C)
        except np.linalg.LinAlgError:
            eigval, reason = None, "eigh"
        if eigval is None or not np.all(np.isfinite(eigval)) or eigval.min() <= 0.0:
            reason, B = reason or "condition", s.B
        else:
            D = np.sqrt(eigval)
    finite = losses[np.isfinite(losses)]
    keep = window(d, k.n) + 20
    best = float(finite.min()) if finite.size else math.inf
    median = float(np.median(finite)) if finite.size else math.inf
    return s._replace(mean=mean, sigma=sigma, C=C, B=B, D=D, p_sigma=p_sigma, p_c=p_c, gen=gen,
                      best_hist=(s.best_hist + (best,))[-keep:], median_hist=(s.median_hist + (median,))[-keep:],
                      reason=reason)


def window(d: int, n: int) -> int:
    """pycma's tolstagnation: generations without improvement before a restart."""
    return int(100 + 100 * d**1.5 / n)


def stop_reasons(s: Search, losses: np.ndarray) -> tuple[str, ...]:
    """pycma's stopping rules that hold now (as purecma's ``stop()``), given the last generation's
    losses: an empty tuple means go on."""
    k, d = s.k, s.mean.shape[0]
    reasons = []
    recent = s.best_hist[-(10 + int(math.ceil(30.0 * d / k.n))):]
    finite = losses[np.isfinite(losses)]
    if s.gen > len(recent) - 1 and len(recent) and finite.size:
        spread = max(max(recent), float(finite.max())) - min(min(recent), float(finite.min()))
        if spread < TOLFUN:
            reasons.append("tolfun")
    scale = s.sigma * np.sqrt(np.diag(s.C))
    if np.all(scale < TOLX * s.sigma0) and np.all(s.sigma * np.abs(s.p_c) < TOLX * s.sigma0):
        reasons.append("tolx")
    if s.sigma * float(s.D.max()) > TOLUPSIGMA * s.sigma0:
        reasons.append("tolupsigma")
    if s.reason or float(s.D.max()) ** 2 > MAX_CONDITION * float(s.D.min()) ** 2:
        reasons.append("condition")
    if np.any(s.mean == s.mean + 0.2 * scale):
        reasons.append("noeffectcoord")
    axis = s.gen % d
    if np.all(s.mean == s.mean + 0.1 * s.sigma * s.D[axis] * s.B[:, axis]):
        reasons.append("noeffectaxis")
    W = window(d, k.n)
    if len(s.best_hist) >= W + 20:
        # pycma: the medians of the recent 20 generations' best and median losses are no better
        # than those of 20 generations W earlier.
        old_b, new_b = np.median(s.best_hist[:20]), np.median(s.best_hist[-20:])
        old_m, new_m = np.median(s.median_hist[:20]), np.median(s.median_hist[-20:])
        if new_b >= old_b and new_m >= old_m:
            reasons.append("stagnation")
    if not np.isfinite(s.sigma) or not np.all(np.isfinite(s.mean)):
        reasons.append("nonfinite")
    return tuple(reasons)


def initial_sigma(bounds, sigma: float) -> float:
    low, high = bounds
    return sigma * float(np.mean(high - low))


def default_trials(d: int) -> int:
    return 4 + int(3 * math.log(d))


class AttentionCMAState(NamedTuple):
    x: np.ndarray  # the best trial of the latest generation (the mean is never evaluated)
    loss: float
    search: Search
    restarts: int
    bounds: Any = None
    stage: str = "start"  # "start" (x0 asked), "" (between generations), "gen" (a generation asked)
    asked: Any = None  # (Y, X) of the generation being evaluated
    restart_due: bool = False  # the next ask starts afresh from a uniform point of the box


class IPOP(NamedTuple):
    """IPOP-CMA-ES's restart schedule, the one both attention_cma and hybrid_cma follow: restart
    ``r`` starts a fresh search of ``n_trials * incpopsize**r`` trials (``n_trials`` 0: CMA-ES's
    default 4 + 3 ln d; at least 2, since one trial cannot rank) with step size ``sigma`` as a
    fraction of the box's width, from a uniform point of the box."""

    n_trials: int
    sigma: float
    restarts: int  # at most
    incpopsize: float

    def base(self, d: int) -> int:
        """Trials per generation before any restart."""
        return max(self.n_trials or default_trials(d), 2)

    def search(self, x0: np.ndarray, bounds, restart: int) -> Search:
        n = int(round((self.n_trials or default_trials(len(x0))) * self.incpopsize**restart))
        return start(x0, initial_sigma(bounds, self.sigma), max(n, 2))

    def restart(self, bounds, restart: int, rng: np.random.Generator) -> Search:
        """Restart ``restart``'s search, its start drawn from ``rng`` (by an ask, where the
        optimizer's generator is)."""
        low, high = bounds
        return self.search(rng.uniform(low, high), bounds, restart)


def generation_query(X: np.ndarray) -> Query:
    """All trials in one batched query, which the driver may cut when the budget left is smaller
    than the generation, so the run ends exactly at max_evals (such a generation is not told to
    the search: it cannot rank a part of its trials)."""
    return Query(X, cut=True)


def best_of(X: np.ndarray, losses: np.ndarray) -> tuple[np.ndarray, float]:
    i = int(np.argmin(np.where(np.isnan(losses), np.inf, losses)))
    return X[i].copy(), float(losses[i])


def settled(s: Search, fraction: float) -> bool:
    """The search distribution's largest axis has shrunk below ``fraction`` of its initial size:
    it has found its basin (scale-free: relative to the initial sigma, itself relative to the box)."""
    return s.sigma * float(s.D.max()) < fraction * s.sigma0


def narrow(s: Search, n: int) -> Search:
    """Go on with ``n`` trials per generation from where ``s`` is (mean, step size and metric kept,
    evolution paths and histories started afresh): once a large population has found the basin,
    a small one descends it with far fewer evaluations per digit."""
    d = s.mean.shape[0]
    return s._replace(k=constants(d, n), p_sigma=np.zeros(d), p_c=np.zeros(d), gen=0, best_hist=(), median_hist=())


def ipop_options(
    *,
    n_trials: Annotated[int, ge(0)] = 0,
    sigma: Annotated[float, gt(0)] = 0.2,
    restarts: Annotated[int, ge(0)] = 9,
    incpopsize: Annotated[float, ge(1), le(100)] = 2.0,
):
    """The options of the IPOP schedule (:class:`IPOP`), declared once: attention_cma and
    hybrid_cma take them from here (see :class:`attnopt.params.Family`)."""


IPOP_OPTIONS = Family(ipop_options)


@takes(IPOP_OPTIONS)
def attention_cma(*, narrow_at: Annotated[float, ge(0), le(1)] = 0.01, **options) -> Optimizer:
    """Attention search with a learned metric (CMA-ES) and IPOP restarts; see the module doc.

    ``n_trials`` 0 means CMA-ES's default 4 + 3 ln d; ``sigma`` is a fraction of the init box's
    width; at most ``restarts`` restarts, each with ``incpopsize`` times the trials. ``narrow_at``
    (0: never): once a restart's larger population has settled in a basin (its largest axis below
    that fraction of the initial sigma), it goes on with the base number of trials (see
    :func:`narrow`): the large population is what finds the basin, the small one descends it
    cheaply (the phase is recorded as ``narrow``)."""

    ipop = IPOP(**IPOP_OPTIONS.pick(options))

    def init(x0, bounds, rng):
        x0 = np.asarray(x0, dtype=float)
        return AttentionCMAState(x0, float("nan"), ipop.search(x0, bounds, 0), 0, bounds)

    def ask(state, rng):
        if state.stage == "start":
            return state, Query(state.x)
        s = state.search
        if state.restart_due:  # drawn here, where the generator is: the restart row was the last tell
            s = ipop.restart(state.bounds, state.restarts, rng)
        Y, X = sample(s, rng)
        return state._replace(search=s, restart_due=False, stage="gen", asked=(Y, X)), generation_query(X)

    def tell(state, values, grads):
        if state.stage == "start":
            return state._replace(loss=float(values), stage=""), "init"
        s, restart, phase = state.search, state.restarts, "attention"
        Y, X = state.asked
        losses = np.asarray(values, dtype=float)
        complete = len(losses) == len(X)
        x, loss = best_of(X[: len(losses)], losses)
        if not complete:
            return AttentionCMAState(x, loss, s, restart, state.bounds, ""), phase
        s = update(s, Y, losses)
        base = ipop.base(len(x))
        if narrow_at > 0 and s.k.n > base and settled(s, narrow_at):
            return AttentionCMAState(x, loss, narrow(s, base), restart, state.bounds, ""), "narrow"
        if restart < ipop.restarts and stop_reasons(s, losses):
            return AttentionCMAState(x, loss, s, restart + 1, state.bounds, "", restart_due=True), "restart"
        return AttentionCMAState(x, loss, s, restart, state.bounds, ""), phase

    return Optimizer(init, ask, tell, any_backend=False, sigma=lambda state: float(state.search.sigma))


__all__ = ["attention_cma", "constants", "start", "sample", "update", "stop_reasons", "Search", "Constants", "IPOP"]
