"""`attnopt list [optimizers|landscapes|experiments|report]`: what there is, one line each, with the
parameters and their defaults.

Optimizers and landscapes are described by the first line of their factory's docstring and their
defaults from its signature (where `attnopt run` takes them from too, attnopt/conf_store.py);
experiment presets by the first sentence of their file's leading comment; report items by their registered
function's docstring.
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

SECTIONS = ("optimizers", "landscapes", "experiments", "report")


def _conf_dir() -> Path:
    import attnopt.conf

    return Path(attnopt.conf.__file__).parent


def _first_line(doc: str | None) -> str:
    text = " ".join((doc or "").strip().split("\n\n")[0].split())
    m = re.match(r"(.+?\.)(\s|$)", text)
    text = m.group(1) if m else text
    return re.sub(r":\w+:`~?([^`]*)`", r"\1", text).replace("``", "")  # Sphinx roles read as their text


def _shown(values: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in values.items() if k != "name" and not isinstance(v, dict))


def _preset(landscape: str) -> dict:
    """What conf/landscape/<name>.yaml sets beside the signature's defaults (transform_seed=${seed})."""
    import yaml

    data = yaml.safe_load((_conf_dir() / "landscape" / f"{landscape}.yaml").read_text()) or {}
    return data.get("landscape") or {}


def _experiment_line(path: Path) -> str:
    """The first sentence of the file's leading comment block, however many lines it spans."""
    block = []
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line.startswith("#"):
            break
        if "@package" not in line:
            block.append(line.lstrip("#").strip())
    return _first_line("\n".join(block))


def rows(section: str) -> list[tuple[str, str, str]]:
    """(name, description, parameters with defaults) for one section."""
    if section == "optimizers":
        from attnopt.optimizers import REGISTRY
        from attnopt.params import defaults

        return [(n, _first_line(REGISTRY[n].__doc__), _shown(defaults(REGISTRY[n]))) for n in sorted(REGISTRY)]
    if section == "landscapes":
        from attnopt.conf_store import landscape_node
        from attnopt.landscapes import REGISTRY

        return [(n, _first_line(REGISTRY[n].__doc__), _shown({**landscape_node(n)["landscape"], **_preset(n)}))
                for n in sorted(REGISTRY)]
    if section == "experiments":
        return [(p.stem, _experiment_line(p), f"attnopt run -m +experiment={p.stem}")
                for p in sorted((_conf_dir() / "experiment").glob("*.yaml"))]
    if section == "report":
        from attnopt.report.build import load_registrations
        from attnopt.report.registry import EXPERIMENT_OF, FIGURES, TABLES

        load_registrations()
        out = []
        for kind, registry in (("table", TABLES), ("figure", FIGURES)):
            for n in sorted(registry):
                fn = registry[n]
                source = f"from `make {EXPERIMENT_OF[fn]}`" if fn in EXPERIMENT_OF else "from runs"
                out.append((n, _first_line(fn.__doc__), f"{kind}, {source}"))
        return out
    raise KeyError(section)


#: Experiments that are make targets rather than Hydra presets (their runs are not optimizer x landscape
#: sweeps): the ML tasks (attnopt.experiments.ml), the learned optimizers (attnopt.meta) and Figure 4's
#: maps (attnopt plot). `make help` describes each; tests/test_listing.py checks that they are targets.
MAKE_EXPERIMENTS = ("table2", "fig2", "fig3", "table3", "fig4", "fig6", "fig7", "l2l")


def main(args: list[str]) -> int:
    from attnopt.errors import ConfigError

    wanted = args or list(SECTIONS)
    unknown = [a for a in wanted if a not in SECTIONS]
    if unknown:
        raise ConfigError(f"unknown list section '{unknown[0]}'; choose from: {', '.join(SECTIONS)}")
    for section in wanted:
        print(f"{section}:")
        for name, description, params in rows(section):
            print(f"  {name:20s} {description}")
            if params:
                print(f"  {'':20s}   {params}")
        print()
    if "experiments" in wanted:
        print("not presets but make targets (the ML tasks, Figure 4's maps, the learned optimizers): make "
              + " | ".join(MAKE_EXPERIMENTS) + " [SCALE=small|full]; make help says what each runs")
    if "optimizers" in wanted:
        print("every option of one optimizer, with its default: attnopt run optimizer=NAME --cfg job -p optimizer")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
