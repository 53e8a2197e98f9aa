"""The optimizer interface: ask/tell, pure functions over an explicit state; nothing here evaluates.

    opt = attention(n_trials=64, sigma=0.3)
    state = opt.init(x0, bounds, rng)             # evaluates nothing
    while not done:
        state, query = opt.ask(state, rng)        # the points it needs evaluated next
        values, grads = evaluate(query)           # the driver's job: attnopt.runner, or your loop
        state, phase = opt.tell(state, values, grads)

``ask`` returns a :class:`Query`: the points (one ``(d,)`` point or an ``(n, d)`` batch) and whether
their values and/or gradients are wanted. ``tell`` takes the values (a float for one point, ``(n,)``
for a batch) and the gradients (same shape as the points, or None when not asked for) and returns
the new state and a *phase*: a short label (``"gd"``, ``"attention"``, ...) when that answer
completed one iteration (the history records a row), ``None`` when the iteration needs more
evaluations (attention search asks for its trials, then for the point it moves to). The tell that
completes the evaluation of x0 returns ``"init"``. Every state is a NamedTuple with at least ``x``
(the current iterate) and ``loss`` (its loss; NaN until x0 is told), which is all a driver reads.

Because evaluation happens outside, a driver owns counting and the budget: :mod:`attnopt.runner`
refuses a query that does not fit in the budget left, or, when the query says ``cut=True`` (a
population whose every member is useful on its own, as pycma's), evaluates only its first rows.

``bounds`` is the ``(low, high)`` box x0 is drawn from, two ``(d,)`` float64 arrays: optimizers
that restart draw their new starts there, and those that scale sigma to the domain measure it.

The iterate's array type (numpy or torch, dtype, device) is the caller's choice: optimizers take
it from x0 and draw their noise through :mod:`attnopt.backend`, so one implementation serves all.
Random numbers come only from the ``numpy.random.Generator`` handed to ``init`` and ``ask``.
"""
from __future__ import annotations

from typing import Any, Callable, NamedTuple, Optional

import numpy as np

State = Any  # a NamedTuple with fields ``x`` and ``loss``
Bounds = "tuple[np.ndarray, np.ndarray]"


class Query(NamedTuple):
    """What an optimizer asks the driver to evaluate."""

    X: Any  # one point (d,) or a batch (n, d), in the iterate's array type
    value: bool = True  # wants the loss of every point
    grad: bool = False  # wants the gradient of every point
    cut: bool = False  # may be cut to its first rows when the budget left cannot pay for all

    @property
    def rows(self) -> int:
        return 1 if self.X.ndim == 1 else int(self.X.shape[0])

    @property
    def cost(self) -> int:
        """Evaluations it costs: one per value and one per gradient of each point."""
        return self.rows * (int(self.value) + int(self.grad))


InitFn = Callable[[Any, Bounds, np.random.Generator], State]
AskFn = Callable[[State, np.random.Generator], "tuple[State, Query]"]
TellFn = Callable[[State, Any, Optional[Any]], "tuple[State, Optional[str]]"]


class Optimizer(NamedTuple):
    init: InitFn
    ask: AskFn
    tell: TellFn
    #: True when init/ask/tell compute only with the arrays they are given (numpy of any float
    #: dtype, or torch tensors on any device; see attnopt.backend); False for those that work in
    #: numpy float64 (the scipy and pycma wrappers, the learned optimizer's CPU network), which then
    #: run only with the default array type.
    any_backend: bool = True
    #: the state's current step size, where the optimizer has one (the progress line shows it)
    sigma: Optional[Callable[[State], float]] = None
    #: bytes its state holds at dimension d beyond the batches it asks for (attnopt.memory adds
    #: them to a run's estimate), where that is more than a few vectors: the learned optimizer's
    state_bytes: Optional[Callable[[int], float]] = None


def box(bounds, dim: int) -> "tuple[np.ndarray, np.ndarray]":
    """``(low, high)`` (scalars or arrays) as two (dim,) float64 arrays."""
    low, high = bounds
    return (np.broadcast_to(np.asarray(low, dtype=float), (dim,)).copy(),
            np.broadcast_to(np.asarray(high, dtype=float), (dim,)).copy())


__all__ = ["Optimizer", "Query", "State", "box"]
