"""Attention search (report 2.1.2, 2.4 and 2.5.2): sample, weigh, move.

Per step: draw trial points x_i = x + sigma_i z_i (z_i ~ N(0, I)), evaluate all of them in ONE
batched call, weigh them (softmax(-beta * loss) by default) and move
x <- x + eta * sum_i alpha_i (x_i - x); eta = 1 is the report's weighted average. The new point's
loss is evaluated too, so a step costs n_trials + 1 function evaluations.
"""
from __future__ import annotations

from typing import Annotated, NamedTuple

import numpy as np

from attnopt.errors import ConfigError
from attnopt.optimizers import weights as weightings
from attnopt.optimizers.base import Optimizer
from attnopt.params import ge, gt, one_of


class AttentionState(NamedTuple):
    x: np.ndarray
    loss: float


def sampled_search(sigmas: np.ndarray, eta: float, weigh: weightings.Weighting) -> Optimizer:
    """The shared engine: one trial per entry of ``sigmas`` (its noise scale)."""
    sigmas = np.asarray(sigmas, dtype=float)
    n = sigmas.size
    uniform = bool(np.all(sigmas == sigmas[0]))
    scale = float(sigmas[0]) if uniform else sigmas[:, None]

    def init(x0, oracle, rng):
        x0 = np.asarray(x0, dtype=float)
        return AttentionState(x0, float(oracle.f(x0)))

    def step(state, oracle, rng):
        x = state.x
        trials = rng.standard_normal((n, x.shape[0]))
        # In place: at d = 10,000 every extra pass over the (n, d) block costs ~5% of the step.
        trials *= scale
        trials += x
        losses = oracle.f(trials)
        alpha = weigh(losses)
        with np.errstate(over="ignore", invalid="ignore"):
            x_new = x + eta * (alpha @ trials - alpha.sum() * x)
        return AttentionState(x_new, float(oracle.f(x_new))), "attention"

    return Optimizer(init, step)


def attention(
    *,
    n_trials: Annotated[int, gt(0)] = 64,
    sigma: Annotated[float, gt(0)] = 0.3,
    beta: Annotated[float, gt(0)] = 1.0,
    eta: Annotated[float, gt(0)] = 1.0,
    weighting: Annotated[str, one_of(*weightings.WEIGHTINGS)] = "softmax",
) -> Optimizer:
    """Attention search: ``n_trials`` Gaussian trials of scale ``sigma`` around x."""
    return sampled_search(np.full(n_trials, sigma), eta, weightings.make(weighting, beta))


def attention_explore(
    *,
    n_exploit: Annotated[int, ge(0)] = 48,
    sigma_exploit: Annotated[float, gt(0)] = 0.1,
    n_explore: Annotated[int, ge(0)] = 16,
    sigma_explore: Annotated[float, gt(0)] = 1.0,
    beta: Annotated[float, gt(0)] = 1.0,
    eta: Annotated[float, gt(0)] = 1.0,
    weighting: Annotated[str, one_of(*weightings.WEIGHTINGS)] = "softmax",
) -> Optimizer:
    """Enhanced attention search (report 2.5.2): ``n_exploit`` trials close to x (scale
    ``sigma_exploit``) plus ``n_explore`` wide ones (scale ``sigma_explore``), weighed together."""
    if n_exploit + n_explore < 1:
        raise ConfigError(
            f"optimizer.n_exploit={n_exploit} and optimizer.n_explore={n_explore} are invalid: "
            "they must sum to at least 1"
        )
    sigmas = np.repeat([sigma_exploit, sigma_explore], [n_exploit, n_explore])
    return sampled_search(sigmas, eta, weightings.make(weighting, beta))
