"""Weightings: loss values of a batch of trial points -> non-negative weights summing to 1.

Each is a pure function of the losses, so attention search and its relatives take whichever one
is configured. Every weighting gives non-finite losses (NaN, +-inf) weight 0, and returns all
zeros when no loss is finite (the caller then stays where it is).
"""
from __future__ import annotations

import inspect
import math
from typing import Callable

import numpy as np

from attnopt.errors import ConfigError

Weighting = Callable[[np.ndarray], np.ndarray]


def softmax(beta: float) -> Weighting:
    """alpha_i = softmax(-beta * loss)_i, computed relative to the best finite loss.

    Shifting by the minimum before scaling keeps every exponent in [-inf, 0], so losses of 1e300
    (or a huge beta) give one-hot weights instead of NaN.
    """

    def weigh(losses: np.ndarray) -> np.ndarray:
        losses = np.asarray(losses, dtype=float)
        # ufunc reductions directly: the ndarray methods add a Python wrapper per call, which is a
        # visible share of a step at small d.
        lo, hi = float(np.minimum.reduce(losses)), float(np.maximum.reduce(losses))
        if math.isfinite(hi - lo):  # the common case: all finite, gaps representable (few numpy calls)
            w = np.exp((losses - lo) * -beta)
            w /= np.add.reduce(w)
            return w
        finite = np.isfinite(losses)
        if not finite.all():
            if not finite.any():
                return np.zeros_like(losses)
            losses = np.where(finite, losses, np.inf)
        with np.errstate(over="ignore", invalid="ignore"):
            gaps = losses - losses.min()  # may overflow to inf: weight 0, as it should
            w = np.exp(-beta * gaps)
        w[~np.isfinite(w)] = 0.0
        return w / w.sum()

    return weigh


def rank(beta: float = 0.0) -> Weighting:
    """Scale-free weights from ranks alone (CMA-ES style): the better half gets
    log((n+1)/2) - log(rank), normalised; the worse half gets 0. ``beta`` is unused."""

    def weigh(losses: np.ndarray) -> np.ndarray:
        losses = np.asarray(losses, dtype=float)
        finite = np.isfinite(losses)
        n = int(finite.sum())
        w = np.zeros_like(losses)
        if n == 0:
            return w
        order = np.argsort(np.where(finite, losses, np.inf), kind="stable")[:n]
        raw = np.maximum(np.log((n + 1) / 2.0) - np.log(np.arange(1, n + 1)), 0.0)
        if raw.sum() == 0.0:  # a single finite trial
            raw[0] = 1.0
        w[order] = raw / raw.sum()
        return w

    return weigh


def effective_sample_size(alpha: np.ndarray) -> float:
    """ESS = 1 / sum alpha_i^2 of normalised weights: n for uniform weights, 1 for one-hot."""
    alpha = np.asarray(alpha, dtype=float)
    return float(alpha.sum() ** 2 / (alpha @ alpha)) if alpha.any() else 0.0


def ess(beta: float = 1.0, target: float = 0.25) -> Weighting:
    """softmax(-b * loss) with b chosen anew for every batch so that the effective sample size
    1 / sum alpha_i^2 equals ``target`` times the number of finite losses: the same spread of
    weights whatever the loss's scale (``beta`` is unused; ``b`` replaces it).

    ESS falls monotonically from n (b = 0) to the number of trials tied at the best loss
    (b -> inf), so b is found by bisection on log b; each round evaluates a whole grid of b at once,
    so four rounds of one (33, n) array operation pin log b to ~1e-4.
    """

    grid_size, rounds = 33, 4

    def weigh(losses: np.ndarray) -> np.ndarray:
        losses = np.asarray(losses, dtype=float)
        finite = np.isfinite(losses)
        w = np.zeros_like(losses)
        n = int(finite.sum())
        if n == 0:
            return w
        with np.errstate(over="ignore"):
            gaps = losses[finite] - losses[finite].min()
        positive = gaps[gaps > 0.0]
        if positive.size == 0 or not np.isfinite(np.median(positive)):  # all tied: the tied share
            ties = gaps == 0.0
            w[np.flatnonzero(finite)[ties]] = 1.0 / ties.sum()
            return w
        # Relative to the median gap b is dimensionless (and an outlier cannot set the scale), so
        # one fixed range of log b serves any loss scale.
        gaps = gaps / np.median(positive)
        want = max(1.0, target * n)
        lo, hi = -30.0, 45.0
        for _ in range(rounds):
            log_b = np.linspace(lo, hi, grid_size)
            with np.errstate(over="ignore"):  # inf * gap: weight exp(-inf) = 0, as meant
                W = np.exp(-np.exp(log_b)[:, None] * gaps)
            ess_b = W.sum(axis=1) ** 2 / np.einsum("ij,ij->i", W, W)
            i = int(np.searchsorted(-ess_b, -want))  # first grid point with ESS <= want
            lo, hi = log_b[max(i - 1, 0)], log_b[min(i, grid_size - 1)]
        with np.errstate(over="ignore"):
            v = np.exp(-np.exp(0.5 * (lo + hi)) * gaps)
        w[finite] = v / v.sum()
        return w

    return weigh


WEIGHTINGS: dict[str, Callable[..., Weighting]] = {"softmax": softmax, "rank": rank, "ess": ess}


def make(name: str, beta: float, **options) -> Weighting:
    """The weighting ``name``; ``options`` (e.g. ``target`` of ``ess``) go to the weightings that
    take them and are ignored by the others, so one call site serves every weighting."""
    if name not in WEIGHTINGS:
        raise ConfigError(f"unknown weighting '{name}'; choose from: {', '.join(WEIGHTINGS)}")
    factory = WEIGHTINGS[name]
    accepted = inspect.signature(factory).parameters
    return factory(beta, **{k: v for k, v in options.items() if k in accepted})
