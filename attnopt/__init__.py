"""attnopt: gradient descent, attention search and their hybrids on classic landscapes.

>>> import attnopt
>>> f = attnopt.landscapes.make("rastrigin", 10)
>>> res = attnopt.minimize(f, "attention", seed=0, max_iters=200)
"""
from attnopt import landscapes, optimizers
from attnopt.errors import ConfigError
from attnopt.runner import Budget, Result, minimize, run

__version__ = "0.1.0"

__all__ = ["landscapes", "optimizers", "minimize", "run", "Budget", "Result", "ConfigError", "__version__"]
