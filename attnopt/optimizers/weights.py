"""Weightings: loss values of a batch of trial points -> non-negative weights summing to 1.

Each is a pure function of the losses, so attention search and its relatives take whichever one
is configured. Every weighting gives non-finite losses (NaN, +-inf) weight 0, and returns all
zeros when no loss is finite (the caller then stays where it is).
"""
from __future__ import annotations

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


WEIGHTINGS: dict[str, Callable[[float], Weighting]] = {"softmax": softmax, "rank": rank}


def make(name: str, beta: float) -> Weighting:
    if name not in WEIGHTINGS:
        raise ConfigError(f"unknown weighting '{name}'; choose from: {', '.join(WEIGHTINGS)}")
    return WEIGHTINGS[name](beta)
