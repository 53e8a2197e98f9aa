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


class LineSearchState(NamedTuple):
    x: Any
    loss: float
    grad: Any  # None until x0 is told
    lr: float  # the rate the next step tries first (NaN: not yet set from the domain)
    t: int  # steps taken
    stage: str = ""  # "" (between steps), "trial" (a trial point's value asked), "accept" (its gradient asked)
    asked: Any = None  # (trial point, its loss) while a step is under way
    width: float = 1.0  # mean width of the init box: the first step's length is a fraction of it


#: Armijo's sufficient-decrease constant (Nocedal & Wright's usual value)
ARMIJO = 1e-4


def gd_backtracking(*, step0: float = 0.01, grow: float = 2.0, shrink: float = 0.5, bb: bool = True) -> Optimizer:
    """Gradient descent whose rate adapts to the landscape (backtracking Armijo line search).

    A step tries x - lr g (its value only) and accepts it when f decreased by at least
    ``ARMIJO * lr * |g|^2``; it then asks for the gradient there. The next step's first rate is
    Barzilai and Borwein's s.s / s.y (s the step, y the change of the gradient: the rate of the
    quadratic through the last two gradients, which makes steepest descent fast along narrow
    valleys; ``bb=False`` or s.y <= 0: ``grow * lr``). A rejected trial multiplies lr by ``shrink``
    and tries again within the same step, so every accepted step decreases f. The first rate makes the first trial step ``step0`` times the init box's mean width
    long, so nothing is tied to the landscape's scale. An accepted step costs 1 f + 1 grad, as gd's,
    each rejected trial 1 f more. When the trial step is lost to rounding (x - lr g == x), the step
    ends where it is (a step without progress, which a hybrid's plateau test sees).
    """

    def init(x0, bounds, rng):
        low, high = bounds
        return LineSearchState(backend.as_point(x0), float("nan"), None, float("nan"), 0,
                               width=float(np.mean(np.asarray(high) - np.asarray(low))))

    def ask(state, rng):
        if state.grad is None:
            return state, Query(state.x, grad=True)
        if state.stage == "accept":
            return state, Query(state.asked[0], value=False, grad=True)
        g = state.grad
        lr = state.lr
        if not lr == lr:  # NaN: the first step, its length a fraction of the domain
            norm = float((g * g).sum()) ** 0.5
            lr = step0 * state.width / norm if norm > 0 else step0 * state.width
        trial = state.x - lr * g
        return state._replace(lr=lr, stage="trial", asked=(trial, None)), Query(trial)

    def tell(state, values, grads):
        if state.grad is None:
            return state._replace(loss=float(values), grad=grads), "init"
        if state.stage == "accept":
            x, loss = state.asked
            lr = grow * state.lr
            if bb:  # Barzilai-Borwein: the rate a quadratic through the last two gradients gives
                step, change = x - state.x, grads - state.grad
                curvature = float((step * change).sum())
                if curvature > 0:
                    lr = float((step * step).sum()) / curvature
            return LineSearchState(x, loss, grads, lr, state.t + 1, width=state.width), "gd"
        loss, g, lr = float(values), state.grad, state.lr
        gg = float((g * g).sum())
        if loss <= state.loss - ARMIJO * lr * gg:  # NaN and inf never pass
            return state._replace(stage="accept", asked=(state.asked[0], loss)), None
        if not gg > 0 or bool((state.asked[0] == state.x).all()):  # x cannot move any more: a step in place
            return state._replace(t=state.t + 1, stage="", asked=None), "gd"
        return state._replace(lr=lr * shrink, asked=None), None  # the next ask tries the shorter step

    return Optimizer(init, ask, tell)


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
