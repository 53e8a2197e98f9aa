"""attnopt: gradient descent, attention search and their hybrids on classic landscapes.

>>> import attnopt
>>> res = attnopt.minimize("rastrigin", "attention", dim=10, seed=0, max_iters=200)
>>> es = attnopt.ask_tell("attention", x0=[1.0, 2.0])   # drive it from your own loop
"""
from attnopt.errors import ConfigError

# Loaded on first use (PEP 562), so that a part that needs none of them (`attnopt report`, which
# reads files and must not import an optimizer) does not load them by importing the package.
# The optimisation loop itself is attnopt.runner.run: the name attnopt.run is the Hydra entry
# module (attnopt/run.py, `attnopt run`), and importing a submodule rebinds its package attribute.
_LAZY = {"landscapes": ("attnopt.landscapes", None), "optimizers": ("attnopt.optimizers", None),
         "Budget": ("attnopt.runner", "Budget"), "Result": ("attnopt.runner", "Result"),
         "minimize": ("attnopt.runner", "minimize"), "ask_tell": ("attnopt.asktell", "ask_tell"),
         "AskTell": ("attnopt.asktell", "AskTell")}


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module 'attnopt' has no attribute '{name}'")
    import importlib

    module, attr = _LAZY[name]
    value = importlib.import_module(module)
    value = getattr(value, attr) if attr else value
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))


__version__ = "0.1.0"

__all__ = ["landscapes", "optimizers", "minimize", "ask_tell", "AskTell", "Budget", "Result", "ConfigError",
           "__version__"]
