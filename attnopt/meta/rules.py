"""Update rules on batches of tasks, in torch: the hand-designed baselines and the learned ones.

A :class:`Rule` is ``init(x) -> state`` and ``update(g, x, state) -> (delta, state)`` on (B, P)
iterates; the hand-designed ones are the core's own update rules (attnopt.optimizers.gradient,
which compute in the array type they are given), applied so that a hundred test tasks times a grid of
learning rates run as one batched computation. Every baseline is elementwise, so tasks batched
together cannot influence one another; ``lr`` may be a (B, 1) tensor, one learning rate per task
row, which is how a whole learning-rate grid is tuned in one pass. Conventions follow torch.optim
(SGD-momentum without dampening, RMSprop alpha 0.99, Adam with bias correction).
"""
from __future__ import annotations

from typing import Any, Callable, NamedTuple

import torch

from attnopt.optimizers import gradient
from attnopt.optimizers.learned_nets import LearnedOptimizer


class Rule(NamedTuple):
    init: Callable[[torch.Tensor], Any]
    update: Callable[[torch.Tensor, torch.Tensor, Any], "tuple[torch.Tensor, Any]"]


def core(rule: "tuple[Callable, Callable]") -> Rule:
    """One of the core's update rules (attnopt.optimizers.gradient) as a Rule: the same code that
    ``attnopt run optimizer=adam`` steps with, here on (tasks, parameters) batches."""
    update, init_aux = rule

    def step(g, x, state):
        aux, t = state
        delta, aux = update(g, aux, t + 1)
        return delta, (aux, t + 1)

    return Rule(lambda x: (init_aux(x), 0), step)


def sgd(lr) -> Rule:
    return core(gradient.gd_rule(lr))


def momentum(lr, mu: float = 0.9) -> Rule:
    return core(gradient.sgd_rule(lr, mu))


def adam(lr, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8) -> Rule:
    return core(gradient.adam_rule(lr, beta1, beta2, eps))


def rmsprop(lr, alpha: float = 0.99, eps: float = 1e-8) -> Rule:
    """torch.optim.RMSprop's rule; the one baseline the core has no optimizer for."""

    def update(g, x, v):
        v = alpha * v + (1 - alpha) * g * g
        return -lr * g / (torch.sqrt(v) + eps), v

    return Rule(torch.zeros_like, update)


BASELINES: dict[str, Callable[..., Rule]] = {"Adam": adam, "SGD": sgd, "SGD-momentum": momentum, "RMSprop": rmsprop}


def learned(model: LearnedOptimizer) -> Rule:
    """The model applied to every coordinate of every task as one flat batch."""

    def update(g, x, state):
        delta, state = model(g.reshape(-1), x.reshape(-1), state)
        return delta.view_as(x), state

    return Rule(lambda x: model.init_state(x.reshape(-1)), update)
