"""Configs composed from the factories' signatures (attnopt/conf_store.py): a default lives in one
place, and what Hydra composes from it is what the YAML files used to write, down to the hash."""
from importlib.resources import files

import pytest
import yaml
from hydra import compose, initialize_config_module
from omegaconf import OmegaConf

from attnopt import conf_store, landscapes, optimizers, rundir
from attnopt.params import defaults


@pytest.fixture(scope="module")
def composed():
    with initialize_config_module(config_module="attnopt.conf", version_base=None):
        yield lambda *overrides: OmegaConf.to_container(compose(config_name="config", overrides=list(overrides)),
                                                        resolve=True)


@pytest.mark.parametrize("name", optimizers.names())
def test_composed_optimizer_config_is_the_factory_signature(composed, name):
    config = composed(f"optimizer={name}")["optimizer"]
    expected = {"name": name, **defaults(optimizers.REGISTRY[name])}
    assert config == expected
    assert list(config) == list(expected)  # `--cfg job` lists them in the signature's order
    # the same types too (2.0, not 2): a hash of the JSON text tells them apart
    assert {k: type(v) for k, v in config.items()} == {k: type(v) for k, v in expected.items()}


@pytest.mark.parametrize("name", optimizers.names())
def test_optimizer_yaml_restates_no_default(name):
    """The shipped files only point at their generated node; a preset would set what differs."""
    text = (files("attnopt.conf") / "optimizer" / f"{name}.yaml").read_text()
    assert yaml.safe_load(text) == {"defaults": [f"/{conf_store.GROUP}/optimizer/{name}@_here_"]}


@pytest.mark.parametrize("name", landscapes.names())
def test_composed_landscape_config_is_the_constructor_signature(composed, name):
    config = composed(f"landscape={name}", "seed=7")
    node = conf_store.landscape_node(name)
    preset = yaml.safe_load((files("attnopt.conf") / "landscape" / f"{name}.yaml").read_text())
    assert preset["defaults"] == [f"/{conf_store.GROUP}/landscape/{name}@_here_"]
    # the file sets only what differs from the signature: a new rotation/shift per run seed
    assert preset.get("landscape", {}) == ({} if "transform_seed" not in node["landscape"]
                                           else {"transform_seed": "${seed}"})
    assert set(preset) <= {"defaults", "landscape"}
    expected = {**node["landscape"], **({"transform_seed": 7} if "transform_seed" in node["landscape"] else {})}
    assert config["landscape"] == expected and list(config["landscape"]) == list(expected)
    assert config["dimension"] == node.get("dimension", 10)  # a data set fixes it; else config.yaml's


def test_a_changed_factory_default_reaches_the_composed_config(composed, monkeypatch):
    """The nodes really come from the signature: a factory with another default, registered, is
    composed with it (nothing else holds a copy of the value)."""
    from attnopt.optimizers.gradient import gd

    def gd_slow(*, lr: float = 0.125):
        return gd(lr=lr)

    monkeypatch.setitem(optimizers.REGISTRY, "gd_slow", gd_slow)
    conf_store.register()
    config = composed(f"+{conf_store.GROUP}/optimizer@optimizer=gd_slow", "~optimizer")
    assert config["optimizer"] == {"name": "gd_slow", "lr": 0.125}


def test_overrides_and_unknown_keys_behave_as_with_yaml(composed):
    assert composed("optimizer=hybrid3", "optimizer.attn_sigma=0.5")["optimizer"]["attn_sigma"] == 0.5
    from hydra.errors import ConfigCompositionException

    with pytest.raises(ConfigCompositionException, match="sigmaa"):
        composed("optimizer=attention", "optimizer.sigmaa=1")


# Config hashes of runs made before the configs were generated (computed then, from the YAML files
# that wrote every default): run directories keep their names, so `resume` still finds finished runs.
# The optimizers whose defaults helper work may still change (attention*, hybrid*) are left out.
HASHES_BEFORE = {
    "optimizer=gd": "acb96d4d92c29ea3",
    "optimizer=sgd": "3e79a3ac24d50f67",
    "optimizer=adam": "dbe1151af041ea5c",
    "optimizer=cma": "12b570f044d05709",
    "optimizer=dual_annealing": "7e04d7675cf61543",
    "optimizer=basinhopping": "9f546db584d7ddbb",
    "optimizer=learned": "022834c5cc4a5dfe",
    "landscape=ackley": "32a0d01ee0a62c95",
    "landscape=griewank": "6872d97b61c9f3b3",
    "landscape=linreg": "8d5c29d8776b3371",
    "landscape=logreg": "2a0b0508d61584b3",
    "landscape=mlp": "964d8c2a8073383b",
    "landscape=rastrigin": "88ed2f6ce3678551",
    "landscape=rosenbrock": "dc76d9f65917c454",
    "landscape=sphere": "acb96d4d92c29ea3",
    "landscape=trapped": "d4a607407bb106cc",
}


@pytest.mark.parametrize("choice", sorted(HASHES_BEFORE))
def test_config_hashes_of_earlier_runs_are_unchanged(composed, choice):
    base = {"optimizer": "optimizer=gd", "landscape": "landscape=sphere"}
    base[choice.split("=")[0]] = choice
    assert rundir.config_hash(composed(*base.values())) == HASHES_BEFORE[choice]


def test_every_landscape_and_optimizer_is_pinned_or_said_why_not():
    pinned = {c.split("=")[1] for c in HASHES_BEFORE}
    assert set(landscapes.names()) <= pinned
    assert set(optimizers.names()) - pinned == {n for n in optimizers.names() if n.startswith(("attention", "hybrid"))}


def _stated_value(text: str):
    """The value a docs table states for a parameter, ``(0.01)``, ``(`softmax` | `rank`)``,
    ``(0 = 4 + 3 ln d)``: its first word, as a number, a boolean or a word (None: prose)."""
    import re

    word = re.match(r"\s*`?([\w.+-]+)`?", text)
    if not word:
        return None
    token = word.group(1)
    if token in ("true", "false"):
        return token == "true"
    try:
        return float(token)
    except ValueError:
        return token


def test_the_docs_tables_state_the_signatures_defaults():
    """README.md and docs/reference.md restate defaults for readers; they must say what the one
    place that holds them (the factory's signature) says."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    checked = 0
    for doc in (root / "README.md", root / "docs" / "reference.md"):
        for line in doc.read_text().splitlines():
            row = re.match(r"\| `(\w+)` \|(.*)", line)
            if not row or row.group(1) not in optimizers.REGISTRY:
                continue
            signature = defaults(optimizers.REGISTRY[row.group(1)])
            for key, text in re.findall(r"`(\w+)` \(([^)]*)\)", row.group(2)):
                stated, default = _stated_value(text), signature.get(key)
                if key not in signature or stated is None or isinstance(stated, str) != isinstance(default, str):
                    continue  # prose ("see below"), or a word where the default is a number
                if isinstance(default, bool) or isinstance(stated, bool):
                    assert stated is default, f"{doc.name}: {row.group(1)}.{key} ({text}) but the default is {default}"
                else:
                    assert stated == pytest.approx(default), \
                        f"{doc.name}: {row.group(1)}.{key} ({text}) but the default is {default}"
                checked += 1
    assert checked >= 40  # the tables are there and were read


def test_hpo_config_is_its_settings_signature(composed):
    from attnopt import hpo

    # Hydra is initialised by the `composed` fixture; this composes the other primary config
    config = OmegaConf.to_container(compose(config_name="hpo", overrides=["seed=3"]), resolve=True)
    node = conf_store.hpo_node()
    assert {k: config[k] for k in node} == {**node, "seed": 3}
    assert node["budget"] == defaults(hpo.search_settings)["budget"]  # compare() and the CLI: one default
    assert config["landscape"]["dataset"] == "diabetes" and config["landscape"]["data_seed"] == 3
    preset = yaml.safe_load((files("attnopt.conf") / "hpo.yaml").read_text())
    assert set(preset) == {"defaults", "landscape"}  # it sets only the data, no setting's default
