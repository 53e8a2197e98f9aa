"""First-order methods: gd, sgd (heavy-ball / Nesterov momentum) and adam.

Each is an *update rule* ``(grad, aux, t) -> (delta, aux)`` wrapped by :func:`first_order`, which
owns the shared part: ask for loss and gradient at x0, then per step apply the delta and ask for
the new point's loss and gradient together (1 function + 1 gradient evaluation per step).
"""
from __future__ import annotations

from typing import Annotated, Any, Callable, NamedTuple, Optional

import numpy as np

from attnopt import backend
from attnopt.optimizers.base import Optimizer, Query
from attnopt.params import ge, gt, le


class FirstOrderState(NamedTuple):
    x: np.ndarray
    loss: float
    grad: Optional[np.ndarray]  # None until x0 is told
    t: int  # steps taken
    aux: Any  # the rule's own state (momentum buffer, Adam moments)
    asked: Any = None  # (x, aux) of the step whose point is being evaluated


Update = Callable[[np.ndarray, Any, int], "tuple[np.ndarray, Any]"]


def first_order(update: Update, init_aux: Callable[[np.ndarray], Any], phase: str) -> Optimizer:
    def init(x0, bounds, rng):
        x0 = backend.as_point(x0)
        return FirstOrderState(x0, float("nan"), None, 0, init_aux(x0))

    def ask(state, rng):
        if state.grad is None:
            return state, Query(state.x, grad=True)
        delta, aux = update(state.grad, state.aux, state.t + 1)
        x = state.x + delta
        return state._replace(asked=(x, aux)), Query(x, grad=True)

    def tell(state, loss, grad):
        if state.grad is None:
            return state._replace(loss=float(loss), grad=grad), "init"
        x, aux = state.asked
        return FirstOrderState(x, float(loss), grad, state.t + 1, aux), phase

    return Optimizer(init, ask, tell)


def _no_aux(x0):
    return None


def gd_rule(lr) -> tuple[Update, Callable]:
    """x <- x - lr * g. Every rule here is ``(update, init_aux)`` and works on numpy arrays and torch
    tensors alike, with ``lr`` a number or an array broadcasting against the iterate (attnopt.meta
    runs them on (tasks, parameters) batches with one rate per task row)."""
    return (lambda g, aux, t: (-lr * g, None)), _no_aux


def gd(*, lr: Annotated[float, gt(0)] = 1e-2) -> Optimizer:
    """Plain gradient descent, x <- x - lr * grad f(x) (report 2.3)."""
    return first_order(*gd_rule(lr), "gd")


def sgd(
    *,
    lr: Annotated[float, gt(0)] = 1e-3,
    momentum: Annotated[float, ge(0), le(1)] = 0.9,
    nesterov: bool = False,
) -> Optimizer:
    """Gradient descent with momentum, in torch.optim.SGD's convention (dampening 0):
    buf <- momentum * buf + g; x <- x - lr * buf (Nesterov: x <- x - lr * (g + momentum * buf))."""
    return first_order(*sgd_rule(lr, momentum, nesterov), "sgd")


def sgd_rule(lr, momentum: float = 0.9, nesterov: bool = False) -> tuple[Update, Callable]:
    def update(g, buf, t):
        buf = backend.copy(g) if buf is None else momentum * buf + g
        direction = g + momentum * buf if nesterov else buf
        return -lr * direction, buf

    return update, _no_aux


def _lerp(start, end, weight):
    """torch.lerp's formula (it switches form at weight 0.5 to stay exact at both ends)."""
    if weight < 0.5:
        return start + weight * (end - start)
    return end - (end - start) * (1.0 - weight)


def adam(
    *,
    lr: Annotated[float, gt(0)] = 1e-3,
    beta1: Annotated[float, ge(0), le(0.999999)] = 0.9,
    beta2: Annotated[float, ge(0), le(0.999999)] = 0.999,
    eps: Annotated[float, gt(0)] = 1e-8,
) -> Optimizer:
    """Adam (Kingma & Ba), written with torch.optim.Adam's exact order of operations so the two
    agree step for step to rounding."""
    return first_order(*adam_rule(lr, beta1, beta2, eps), "adam")


def adam_rule(lr, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8) -> tuple[Update, Callable]:
    def update(g, aux, t):
        m, v = aux
        m = _lerp(m, g, 1.0 - beta1)
        v = v * beta2 + (1.0 - beta2) * (g * g)
        bias1 = 1.0 - beta1**t
        bias2_sqrt = np.sqrt(1.0 - beta2**t)
        denom = backend.namespace(v).sqrt(v) / bias2_sqrt + eps
        return -(lr / bias1) * (m / denom), (m, v)

    return update, lambda x0: (backend.namespace(x0).zeros_like(x0),) * 2
