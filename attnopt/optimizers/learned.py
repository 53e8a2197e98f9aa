"""`learned`: a meta-trained optimizer (attnopt.meta) behind the ordinary optimizer interface.

It runs through the same ask/tell driver as every other optimizer: each step asks for one point's
value and gradient (1 function + 1 gradient evaluation), like gd/adam. Landscapes are numpy
float64; the network is torch float32, so values cross that boundary once per step, and the update
is added to the float64 iterate.
"""
from __future__ import annotations

from typing import Annotated, Any, NamedTuple, Optional

import numpy as np

from attnopt.errors import ConfigError
from attnopt.optimizers.base import Optimizer, Query
from attnopt.params import one_of

HOW_TO_MAKE = ("meta-train one with `make l2l SCALE=small` (checkpoints are written to "
               "outputs/l2l/small/checkpoints/*.pt, e.g. generalist.pt) and pass optimizer.checkpoint=PATH")


class LearnedState(NamedTuple):
    x: np.ndarray
    loss: float
    grad: np.ndarray
    t: int
    inner: Any  # the network's per-coordinate state (torch tensors)
    asked: Any = None  # (x, inner) of the step whose point is being evaluated


def learned(
    *,
    checkpoint: Optional[str] = None,
    features: Annotated[Optional[str], one_of("raw", "logsign", "rich")] = None,
) -> Optimizer:
    """A meta-trained learned optimizer loaded from ``checkpoint`` (a .pt file written by
    ``python -m attnopt.meta``). ``features``, if set, must match the checkpoint's feature set."""
    if checkpoint is None or not str(checkpoint).strip():
        raise ConfigError(f"optimizer.checkpoint is not set: {HOW_TO_MAKE}")
    import torch

    from attnopt.optimizers.learned_nets import load_checkpoint

    model = load_checkpoint(checkpoint, features=features)

    def as_torch(a):
        return torch.as_tensor(np.asarray(a, dtype=np.float32))

    def init(x0, bounds, rng):
        x0 = np.asarray(x0, dtype=float)
        return LearnedState(x0, float("nan"), None, 0, model.init_state(as_torch(x0)))

    def ask(state, rng):
        if state.grad is None:
            return state, Query(state.x, grad=True)
        with torch.no_grad():
            delta, inner = model(as_torch(state.grad), as_torch(state.x), state.inner)
        x = state.x + delta.numpy().astype(np.float64)
        return state._replace(asked=(x, inner)), Query(x, grad=True)

    def tell(state, loss, grad):
        if state.grad is None:
            return state._replace(loss=float(loss), grad=grad), "init"
        x, inner = state.asked
        return LearnedState(x, float(loss), grad, state.t + 1, inner), "learned"

    return Optimizer(init, ask, tell, any_backend=False, state_bytes=model.state_bytes)
