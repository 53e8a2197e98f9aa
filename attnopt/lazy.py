"""Import on first use: the one mechanism that keeps `import attnopt` and `attnopt --help` cheap.

Some registered parts need a heavy dependency at import time (the ML tasks need torch, ~2 s on
two cores). A :class:`LazyRegistry` names each entry by ``"module:attribute"`` and imports that
module the first time the entry is looked up, so listing names costs nothing and a run imports
only what it uses. Code that needs pandas, matplotlib, scipy, ... only inside one function imports
it inside that function instead.
"""
from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any, Callable, Iterator


class LazyRegistry(Mapping):
    """A read-only ``name -> object`` mapping whose objects are imported when first looked up."""

    def __init__(self, targets: dict[str, str]):
        self._targets = dict(targets)  # name -> "package.module:attribute"
        self._loaded: dict[str, Any] = {}

    def __getitem__(self, name: str) -> Any:
        if name not in self._loaded:
            module, _, attribute = self._targets[name].partition(":")
            self._loaded[name] = getattr(importlib.import_module(module), attribute)
        return self._loaded[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._targets)

    def __len__(self) -> int:
        return len(self._targets)

    def __repr__(self) -> str:
        return f"LazyRegistry({self._targets!r})"

    def module_getattr(self, module_name: str) -> Callable[[str], Any]:
        """A module-level ``__getattr__`` (PEP 562) that resolves the registered attributes by
        their own names, so ``from attnopt.landscapes import MLP`` imports torch then, not before."""
        by_attribute = {target.partition(":")[2]: name for name, target in self._targets.items()}

        def __getattr__(attribute: str) -> Any:
            if attribute in by_attribute:
                return self[by_attribute[attribute]]
            raise AttributeError(f"module {module_name!r} has no attribute {attribute!r}")

        return __getattr__


class LazyModule:
    """A stand-in for a heavy module, imported on its first attribute look-up: a module whose
    classes only need it in their methods (the ML tasks need torch to compute, not to be declared)
    can then be imported for its signatures (attnopt/conf_store.py) at no cost.
    ``torch = LazyModule("torch")`` at the top of a module, then ``torch.no_grad()`` as usual."""

    def __init__(self, name: str):
        self._name = name

    def __getattr__(self, attribute: str) -> Any:
        return getattr(importlib.import_module(self._name), attribute)

    def __repr__(self) -> str:
        return f"LazyModule({self._name!r})"
