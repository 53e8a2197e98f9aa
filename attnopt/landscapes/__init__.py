"""Landscapes: batched objectives with analytic gradients and, where known, their optimum."""
from __future__ import annotations

from typing import Any

from attnopt.errors import ConfigError
from attnopt.landscapes.base import Landscape
from attnopt.landscapes.transforms import transform, transform_options
from attnopt.lazy import LazyRegistry
from attnopt.params import bind, signature_params

# name -> where the class lives. Imported on first use (attnopt.lazy): the ML tasks import torch.
REGISTRY: LazyRegistry = LazyRegistry({
    "sphere": "attnopt.landscapes.classic:Sphere",
    "rastrigin": "attnopt.landscapes.classic:Rastrigin",
    "ackley": "attnopt.landscapes.classic:Ackley",
    "griewank": "attnopt.landscapes.classic:Griewank",
    "rosenbrock": "attnopt.landscapes.classic:Rosenbrock",
    "trapped": "attnopt.landscapes.trapped:Trapped",
    "linreg": "attnopt.landscapes.tasks:LinReg",
    "logreg": "attnopt.landscapes.tasks:LogReg",
    "mlp": "attnopt.landscapes.tasks:MLP",
})
__getattr__ = REGISTRY.module_getattr(__name__)  # attnopt.landscapes.Sphere, .MLP, ...


def names() -> list[str]:
    return sorted(REGISTRY)


def make(name: str, dim: int, **params: Any) -> Landscape:
    """Build a landscape by name, validating its parameters: ``make("rastrigin", 10)``.

    Every landscape also takes ``rotate``, ``shift`` and ``transform_seed`` (see
    :mod:`attnopt.landscapes.transforms`): ``make("rastrigin", 10, rotate=True, shift=True)``.
    """
    if name not in REGISTRY:
        raise ConfigError(f"unknown landscape '{name}'; choose from: {', '.join(names())}")
    common = signature_params(transform_options)
    own = {k: v for k, v in params.items() if k not in common}
    try:
        bound = bind(REGISTRY[name].__init__, own, where="landscape", skip=("self", "dim"))
    except ConfigError as exc:
        if str(exc).startswith("unknown key"):  # name the keys every landscape takes, too
            allowed = sorted(set(signature_params(REGISTRY[name].__init__)) - {"self", "dim"} | set(common))
            raise ConfigError(f"{str(exc).split('; allowed keys')[0]}; allowed keys: {', '.join(allowed)}") from None
        raise
    options = bind(transform_options, {k: v for k, v in params.items() if k in common}, where="landscape")
    return transform(REGISTRY[name](dim, **bound), **options)


__all__ = ["Landscape", "make", "names", "REGISTRY", "Sphere", "Rastrigin", "Ackley", "Griewank",
           "Rosenbrock", "Trapped", "LinReg", "LogReg", "MLP"]
