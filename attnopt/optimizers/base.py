"""The optimizer interface: a pair of pure functions over an explicit state (optax style).

    opt = attention(n_trials=64, sigma=0.3, beta=1.0)
    state = opt.init(x0, oracle, rng)
    state, phase = opt.step(state, oracle, rng)

``init`` and ``step`` take every input explicitly: the state, the :class:`~attnopt.oracle.Oracle`
they evaluate through and a ``numpy.random.Generator``; they neither print nor write files. Every
state is a NamedTuple with at least ``x`` (the current iterate) and ``loss`` (its loss), which is
all the runner reads. ``step`` returns the new state and a short phase label (``"gd"``,
``"attention"``, ...) that the history records, so composite optimizers can say which part acted.

The iterate's array type (numpy or torch, dtype, device) is the caller's choice: optimizers take
it from x0 and draw their noise through :mod:`attnopt.backend`, so one implementation serves all.
"""
from __future__ import annotations

from typing import Any, Callable, NamedTuple

import numpy as np

State = Any  # a NamedTuple with fields ``x`` and ``loss``
InitFn = Callable[[np.ndarray, Any, np.random.Generator], State]
StepFn = Callable[[State, Any, np.random.Generator], "tuple[State, str]"]


class Optimizer(NamedTuple):
    init: InitFn
    step: StepFn
    #: True when init/step compute only with the arrays they are given (numpy of any float dtype,
    #: or torch tensors on any device; see attnopt.backend); False for those that work in numpy
    #: float64 (the scipy and pycma wrappers, the learned optimizer's CPU network), which then run
    #: only with the default array type.
    any_backend: bool = True
