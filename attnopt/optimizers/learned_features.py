"""Per-coordinate input features of a learned optimizer.

Every feature is computed coordinate by coordinate from the gradient ``g``, the parameter value
``x`` and a small running state (moments), so one set of optimizer weights serves any number of
coordinates. Three sets, chosen by name:

``raw``      ``[g, x]``: the report's input_size=2 experiment (Figure 6), which fails on MNIST
             because gradients span many orders of magnitude.
``logsign``  ``[log|g|/p, sign g, x]`` with the small-gradient case of Andrychowicz et al. (2016,
             appendix A): for ``|g| < e^-p`` the pair is ``(-1, e^p g)`` instead, so the features are
             bounded and continuous (p = 10). The report's input_size=3 experiment (Figure 7).
``rich``     ``logsign`` of the gradient and of momenta at several decays, ``log sqrt(v)/p`` of a
             second-moment estimate, Adam's normalised step ``m_hat / (sqrt(v_hat) + eps)`` and x:
             the report's section 4.5 "future work".

Nothing here takes a square root or a logarithm of an exact zero, so neither the features nor
their derivatives (second-order meta-gradients) become NaN or infinite at a stationary point.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import torch

FEATURE_SETS = ("raw", "logsign", "rich")
P = 10.0  # Andrychowicz et al.'s preprocessing constant
RICH_DECAYS = (0.5, 0.9, 0.99)
RICH_BETA2 = 0.999
_EPS = 1e-8


class FeatureState(NamedTuple):
    t: torch.Tensor  # steps seen, scalar
    m: torch.Tensor  # (len(RICH_DECAYS), *shape) momenta; empty for raw/logsign
    v: torch.Tensor  # second moment, like x; empty for raw/logsign


def n_features(feature_set: str) -> int:
    return {"raw": 2, "logsign": 3, "rich": 2 * (1 + len(RICH_DECAYS)) + 3}[feature_set]


def logsign(g: torch.Tensor, p: float = P) -> tuple[torch.Tensor, torch.Tensor]:
    """Andrychowicz et al.'s (log|g|/p, sign g), with (-1, e^p g) for |g| < e^-p."""
    small = g.abs() < math.exp(-p)
    # clamp before the log: log(0) never happens, and the branch not taken has a finite gradient.
    log_part = torch.log(g.abs().clamp_min(math.exp(-p))) / p
    return torch.where(small, -torch.ones_like(g), log_part), torch.where(small, math.exp(p) * g, torch.sign(g))


def init_state(feature_set: str, x: torch.Tensor) -> FeatureState:
    zero = x.new_zeros(())
    if feature_set != "rich":
        empty = x.new_zeros((0,))
        return FeatureState(zero, empty, empty)
    return FeatureState(zero, x.new_zeros((len(RICH_DECAYS), *x.shape)), torch.zeros_like(x))


def compute(feature_set: str, g: torch.Tensor, x: torch.Tensor, state: FeatureState
            ) -> tuple[torch.Tensor, FeatureState]:
    """Features ``(*x.shape, n_features)`` for gradient ``g`` at ``x``, and the updated state."""
    if feature_set == "raw":
        return torch.stack([g, x], dim=-1), state
    if feature_set == "logsign":
        a, b = logsign(g)
        return torch.stack([a, b, x], dim=-1), state
    if feature_set != "rich":
        raise ValueError(f"unknown feature set {feature_set!r}; choose from {FEATURE_SETS}")
    t = state.t + 1
    decays = torch.tensor(RICH_DECAYS, dtype=g.dtype, device=g.device).view(-1, *([1] * g.dim()))
    m = decays * state.m + (1 - decays) * g
    v = RICH_BETA2 * state.v + (1 - RICH_BETA2) * g * g
    m_hat = m / (1 - decays**t)
    v_hat = v / (1 - RICH_BETA2**t)
    # sqrt of (v + eps^2): finite derivative at v = 0, unlike sqrt(v).
    rms = torch.sqrt(v_hat + _EPS**2)
    parts = [*logsign(g)]
    for k in range(len(RICH_DECAYS)):
        parts.extend(logsign(m_hat[k]))
    parts.append(torch.log(rms) / P)
    parts.append((m_hat[1] / (rms + _EPS)).clamp(-10.0, 10.0))
    parts.append(x)
    return torch.stack(parts, dim=-1), FeatureState(t, m, v)
