"""Hydra config nodes generated from factory signatures (attnopt.params): the one mechanism that
keeps each default in one place, the factory, while Hydra still composes, overrides, sweeps and
prints (`--cfg job`) every value.

:func:`register` stores ``{"name": <name>, <parameter>: <default>, ...}`` of every registered
optimizer in Hydra's ConfigStore (its public API) under the group ``signature/optimizer``;
``conf/optimizer/<name>.yaml`` extends it (``defaults: [/signature/optimizer/<name>@_here_]``).
The nodes are plain dicts, not typed structured configs: values are checked by
:func:`attnopt.params.bind`, whose one-line errors name the bad value and what is allowed.
"""
from __future__ import annotations

#: the ConfigStore group holding the generated nodes; YAML files name it in their defaults list
GROUP = "signature"


def optimizer_node(name: str) -> dict:
    """The config of optimizer ``name`` with every parameter at its default."""
    from attnopt import optimizers
    from attnopt.params import defaults

    return {"name": name, **defaults(optimizers.REGISTRY[name])}


def register() -> None:
    """Store the generated nodes (idempotent: storing again replaces a node with an equal one)."""
    from hydra.core.config_store import ConfigStore

    from attnopt import optimizers

    store = ConfigStore.instance()
    for name in optimizers.names():
        store.store(group=f"{GROUP}/optimizer", name=name, node=optimizer_node(name))
