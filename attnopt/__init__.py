"""attnopt: gradient descent, attention search and their hybrids on classic landscapes.

>>> import attnopt
>>> f = attnopt.landscapes.make("rastrigin", 10)
>>> res = attnopt.minimize(f, "attention", seed=0, max_iters=200)
"""
from attnopt import landscapes, optimizers
from attnopt.errors import ConfigError
# The optimisation loop itself is attnopt.runner.run: the name attnopt.run is the Hydra entry
# module (attnopt/run.py, `attnopt run`), and importing a submodule rebinds its package attribute.
from attnopt.runner import Budget, Result, minimize

__version__ = "0.1.0"

__all__ = ["landscapes", "optimizers", "minimize", "Budget", "Result", "ConfigError", "__version__"]
