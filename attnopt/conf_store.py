"""Hydra config nodes generated from factory signatures (attnopt.params): the one mechanism that
keeps each default in one place, the factory, while Hydra still composes, overrides, sweeps and
prints (`--cfg job`) every value.

:func:`register` stores, in Hydra's ConfigStore (its public API), under the group ``signature``:

- ``signature/optimizer/<name>``: ``{name: <name>, <parameter>: <default>, ...}`` of every
  registered optimizer; ``conf/optimizer/<name>.yaml`` extends it
  (``defaults: [/signature/optimizer/<name>@_here_]``);
- ``signature/landscape/<name>``: ``{landscape: {name: <name>, <parameter>: <default>, ...}}`` of
  every landscape's constructor, plus ``dimension: <default>`` where the constructor has a default
  dimension (a data set fixes it), for a ``# @package _global_`` file ``conf/landscape/<name>.yaml``;
- ``signature/hpo``: the keys of `attnopt hpo` (:func:`attnopt.hpo.cli_settings`, its
  ``attention`` section :func:`attnopt.hpo.attention_settings`), which conf/hpo.yaml extends.

The nodes are plain dicts, not typed structured configs: values are checked by
:func:`attnopt.params.bind`, whose one-line errors name the bad value and what is allowed.
Defaults are converted to their annotated types, so a composed config, and its hash
(attnopt.rundir.config_hash, which names run directories), is what YAML files writing every value
gave.
"""
from __future__ import annotations

import inspect

#: the ConfigStore group holding the generated nodes; YAML files name it in their defaults list
GROUP = "signature"


def optimizer_node(name: str) -> dict:
    """The config of optimizer ``name`` with every parameter at its default."""
    from attnopt import optimizers
    from attnopt.params import defaults

    return {"name": name, **defaults(optimizers.REGISTRY[name])}


def landscape_node(name: str) -> dict:
    """The global config of landscape ``name``: its ``landscape`` section with every parameter at
    its default, and the ``dimension`` its constructor defaults to, if any."""
    from attnopt import landscapes
    from attnopt.landscapes.tasks import Task
    from attnopt.params import defaults, signature_params

    cls = landscapes.REGISTRY[name]
    section = {"name": name, **defaults(cls.__init__, skip=("self", "dim"))}
    if not issubclass(cls, Task):
        # The ML tasks' configs never listed the transform keys (they take them all the same:
        # +landscape.rotate=true); listing them now would change the hash of every task run made
        # before, and a resumed sweep would run them again.
        section.update(defaults(landscapes.transform_options))
    node = {"landscape": section}
    dim = signature_params(cls.__init__)["dim"][2]
    if dim is not inspect.Parameter.empty:
        node["dimension"] = dim
    return node


def hpo_node() -> dict:
    """`attnopt hpo`'s settings at their defaults (the landscape and its dimension come from the
    landscape group)."""
    from attnopt import hpo
    from attnopt.params import defaults

    return {**defaults(hpo.cli_settings, skip=("landscape", "dimension")),
            "attention": defaults(hpo.attention_settings)}


def register() -> None:
    """Store the generated nodes (idempotent: storing again replaces a node with an equal one)."""
    from hydra.core.config_store import ConfigStore

    from attnopt import landscapes, optimizers

    store = ConfigStore.instance()
    for name in optimizers.names():
        store.store(group=f"{GROUP}/optimizer", name=name, node=optimizer_node(name))
    for name in landscapes.names():
        store.store(group=f"{GROUP}/landscape", name=name, node=landscape_node(name))
    store.store(group=GROUP, name="hpo", node=hpo_node())
