"""Landscapes: batched objectives with analytic gradients and, where known, their optimum."""
from __future__ import annotations

from typing import Any

from attnopt.errors import ConfigError
from attnopt.landscapes.base import Landscape
from attnopt.landscapes.classic import Ackley, Griewank, Rastrigin, Rosenbrock, Sphere
from attnopt.landscapes.tasks import MLP, LinReg, LogReg
from attnopt.landscapes.trapped import Trapped
from attnopt.params import bind

REGISTRY: dict[str, type[Landscape]] = {
    cls.name: cls for cls in (Sphere, Rastrigin, Ackley, Griewank, Rosenbrock, Trapped, LinReg, LogReg, MLP)
}


def names() -> list[str]:
    return sorted(REGISTRY)


def make(name: str, dim: int, **params: Any) -> Landscape:
    """Build a landscape by name, validating its parameters: ``make("rastrigin", 10)``."""
    if name not in REGISTRY:
        raise ConfigError(f"unknown landscape '{name}'; choose from: {', '.join(names())}")
    bound = bind(REGISTRY[name].__init__, params, where="landscape", skip=("self", "dim"))
    return REGISTRY[name](dim, **bound)


__all__ = ["Landscape", "make", "names", "REGISTRY", "Sphere", "Rastrigin", "Ackley", "Griewank",
           "Rosenbrock", "Trapped", "LinReg", "LogReg", "MLP"]
