"""Update rules on batches of tasks, in torch: the hand-designed baselines and the learned ones.

A :class:`Rule` is ``init(x) -> state`` and ``update(g, x, state) -> (delta, state)`` on (B, P)
iterates, the torch twin of attnopt's numpy optimizers, so that a hundred test tasks times a grid of
learning rates run as one batched computation. Every baseline is elementwise, so tasks batched
together cannot influence one another; ``lr`` may be a (B, 1) tensor, one learning rate per task
row, which is how a whole learning-rate grid is tuned in one pass. Conventions follow torch.optim
(SGD-momentum without dampening, RMSprop alpha 0.99, Adam with bias correction).
"""
from __future__ import annotations

from typing import Any, Callable, NamedTuple

import torch

from attnopt.meta.models import LearnedOptimizer


class Rule(NamedTuple):
    init: Callable[[torch.Tensor], Any]
    update: Callable[[torch.Tensor, torch.Tensor, Any], "tuple[torch.Tensor, Any]"]


def sgd(lr) -> Rule:
    return Rule(lambda x: None, lambda g, x, s: (-lr * g, None))


def momentum(lr, mu: float = 0.9) -> Rule:
    def update(g, x, buf):
        buf = g if buf is None else mu * buf + g
        return -lr * buf, buf

    return Rule(lambda x: None, update)


def rmsprop(lr, alpha: float = 0.99, eps: float = 1e-8) -> Rule:
    def update(g, x, v):
        v = alpha * v + (1 - alpha) * g * g
        return -lr * g / (torch.sqrt(v) + eps), v

    return Rule(torch.zeros_like, update)


def adam(lr, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8) -> Rule:
    def update(g, x, state):
        m, v, t = state
        t = t + 1
        m = m + (1 - beta1) * (g - m)
        v = beta2 * v + (1 - beta2) * g * g
        denom = torch.sqrt(v) / (1 - beta2**t) ** 0.5 + eps
        return -(lr / (1 - beta1**t)) * m / denom, (m, v, t)

    return Rule(lambda x: (torch.zeros_like(x), torch.zeros_like(x), 0), update)


BASELINES: dict[str, Callable[..., Rule]] = {"Adam": adam, "SGD": sgd, "SGD-momentum": momentum, "RMSprop": rmsprop}


def learned(model: LearnedOptimizer) -> Rule:
    """The model applied to every coordinate of every task as one flat batch."""

    def update(g, x, state):
        delta, state = model(g.reshape(-1), x.reshape(-1), state)
        return delta.view_as(x), state

    return Rule(lambda x: model.init_state(x.reshape(-1)), update)
