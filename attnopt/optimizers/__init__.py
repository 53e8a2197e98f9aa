"""Optimizers: factories returning pure ``(init, step)`` pairs (see :mod:`.base`)."""
from __future__ import annotations

from typing import Any, Callable

from attnopt.errors import ConfigError
from attnopt.optimizers.attention import attention, attention_explore, attention_ipop
from attnopt.optimizers.metric_search import attention_cma
from attnopt.optimizers.gradient_hybrid import hybrid_cma
from attnopt.optimizers.base import Optimizer
from attnopt.optimizers.external import basinhopping, cma, dual_annealing
from attnopt.optimizers.gradient import adam, gd, sgd
from attnopt.optimizers.hybrid import hybrid1, hybrid2, hybrid3, hybrid4
from attnopt.optimizers.learned import learned
from attnopt.params import bind

REGISTRY: dict[str, Callable[..., Optimizer]] = {
    "gd": gd,
    "sgd": sgd,
    "adam": adam,
    "attention": attention,
    "attention_explore": attention_explore,
    "hybrid1": hybrid1,
    "hybrid2": hybrid2,
    "hybrid3": hybrid3,
    "hybrid4": hybrid4,
    "attention_ipop": attention_ipop,
    "attention_cma": attention_cma,
    "hybrid_cma": hybrid_cma,
    "cma": cma,
    "dual_annealing": dual_annealing,
    "basinhopping": basinhopping,
    "learned": learned,
}


def names() -> list[str]:
    return sorted(REGISTRY)


def make(name: str, **params: Any) -> Optimizer:
    """Build an optimizer by name, validating its parameters: ``make("gd", lr=0.1)``."""
    if name not in REGISTRY:
        raise ConfigError(f"unknown optimizer '{name}'; choose from: {', '.join(names())}")
    from attnopt import memory

    bound = bind(REGISTRY[name], params, where="optimizer")
    memory.check_optimizer(bound)  # before the factory allocates its per-trial arrays
    return REGISTRY[name](**bound)


def resolve(optimizer: Any, params: dict) -> tuple[Optimizer, str]:
    """``(Optimizer, how to name it in errors)`` from a registered name with its parameters, or an
    Optimizer as it is (then without parameters): what minimize and ask_tell accept."""
    if isinstance(optimizer, str):
        return make(optimizer, **params), f"optimizer={optimizer}"
    if not isinstance(optimizer, Optimizer):
        raise ConfigError(f"optimizer={optimizer!r} is invalid: give an optimizer's name (one of "
                          f"{', '.join(names())}) or an attnopt Optimizer")
    if params:
        raise ConfigError("optimizer parameters are only accepted with an optimizer name")
    return optimizer, "this optimizer"


__all__ = ["Optimizer", "make", "names", "resolve", "REGISTRY"]
