"""The module graph: no import cycles, reports import no optimizer, the core does not import meta.

Imports are read from the source (module level and inside functions alike, since a lazy import is
still a dependency), so a new module is covered by existing."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent / "attnopt"
#: the optimization core: what `minimize`, `ask_tell` and `attnopt run` compute with
CORE = ("attnopt.optimizers", "attnopt.runner", "attnopt.oracle", "attnopt.asktell", "attnopt.problem",
        "attnopt.landscapes", "attnopt.backend", "attnopt.params", "attnopt.errors")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in ROOT.rglob("*.py")}


def imports(name: str) -> set[str]:
    """The attnopt modules ``name`` imports (a submodule named in ``from pkg import sub`` counts as
    that submodule, not as the package)."""
    tree = ast.parse(MODULES[name].read_text())
    package = name if MODULES[name].name == "__init__.py" else name.rpartition(".")[0]
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            for a in node.names:
                out.add(f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base)
    return {m for m in out if m in MODULES and m != name}


GRAPH = {name: imports(name) for name in MODULES}


def test_no_import_cycles():
    order, on_stack, seen, cycles = [], [], set(), []

    def visit(node):
        seen.add(node)
        on_stack.append(node)
        for nxt in sorted(GRAPH[node]):
            if nxt in on_stack:
                cycles.append(on_stack[on_stack.index(nxt):] + [nxt])
            elif nxt not in seen:
                visit(nxt)
        on_stack.pop()

    for name in sorted(GRAPH):
        if name not in seen:
            visit(name)
    # a package's __init__ that re-exports its submodules is not a cycle of code
    real = [c for c in cycles if not any(a.startswith(b + ".") or b.startswith(a + ".") for a, b in zip(c, c[1:]))]
    assert not real, "import cycles: " + "; ".join(" -> ".join(c) for c in real)


def _reaches(name: str) -> set[str]:
    out, todo = set(), [name]
    while todo:
        for nxt in GRAPH[todo.pop()]:
            if nxt not in out:
                out.add(nxt)
                todo.append(nxt)
    return out


@pytest.mark.parametrize("name", sorted(m for m in MODULES if m.startswith("attnopt.report")))
def test_reports_import_no_optimizer(name):
    bad = sorted(m for m in _reaches(name) if m.startswith(("attnopt.optimizers", "attnopt.hpo", "attnopt.runner",
                                                            "attnopt.meta")))
    assert not bad, f"{name} reaches {bad}"


@pytest.mark.parametrize("name", sorted(m for m in MODULES if m.startswith(CORE)))
def test_the_core_does_not_import_meta(name):
    bad = sorted(m for m in _reaches(name) if m.startswith(("attnopt.meta", "attnopt.hpo", "attnopt.cli",
                                                            "attnopt.report")))
    assert not bad, f"{name} reaches {bad}"
