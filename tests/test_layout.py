"""The package's shape, checked statically: no import circles, no name-based imports, click and rich
only in the CLI, and every imported distribution declared in pyproject.toml.

The import graph is read from the source with :mod:`ast` (every ``import`` statement, at any depth,
including the ones inside functions and ``TYPE_CHECKING`` blocks), so a circle cannot hide behind a
lazy import.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "provenance"

#: import name -> distribution name, where they differ
DISTRIBUTIONS = {"yaml": "pyyaml", "google": "protobuf", "jinja2": "jinja2", "OpenSSL": "pyopenssl"}


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports_of(path: Path, known: set[str]) -> tuple[set[str], set[str]]:
    """(provenance modules imported, top-level third-party names imported) by one file."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    inner: set[str] = set()
    outer: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            # "from pkg import sub" imports the submodule pkg.sub when there is one
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        for t in targets:
            if t.split(".")[0] == "provenance":
                while t not in known and "." in t:
                    t = t.rpartition(".")[0]
                inner.add(t)
            elif t.split(".")[0] not in sys.stdlib_module_names:
                outer.add(t.split(".")[0])
    inner.discard(name)
    return inner, outer


def graph() -> dict[str, set[str]]:
    mods = modules()
    return {m: imports_of(p, set(mods))[0] for m, p in mods.items()}


def cycles(g: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(g.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(g):
        if v not in index:
            visit(v)
    return out


def test_cycle_finder_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles() -> None:
    g = graph()
    assert len(g) > 40  # the walk found the package
    assert cycles(g) == []


def test_click_and_rich_only_in_the_cli() -> None:
    mods = modules()
    for mod, path in mods.items():
        outer = imports_of(path, set(mods))[1]
        if not mod.startswith("provenance.cli"):
            assert not outer & {"click", "rich"}, mod


def test_no_name_based_imports() -> None:
    """No importlib reach-arounds, module ``__getattr__`` or ImportError fallbacks: a missing module must
    fail loudly, never silently drop evidence."""
    for mod, path in modules().items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                assert node.func.attr != "import_module", mod
            if isinstance(node, ast.FunctionDef) and node.name == "__getattr__" and node in tree.body:
                pytest.fail(f"{mod} defines a module __getattr__")
            if isinstance(node, ast.ExceptHandler) and isinstance(node.type, ast.Name):
                assert node.type.id not in ("ImportError", "ModuleNotFoundError"), mod


def _declared() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    reqs = list(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        reqs += extra
    return {re.split(r"[\s<>=!~\[;]", r, maxsplit=1)[0].lower().replace("_", "-") for r in reqs}


def test_every_imported_distribution_is_declared() -> None:
    mods = modules()
    declared = _declared()
    for mod, path in mods.items():
        for top in imports_of(path, set(mods))[1]:
            dist = DISTRIBUTIONS.get(top, top).lower().replace("_", "-")
            assert dist in declared, f"{mod} imports {top} ({dist}), not declared in pyproject.toml"


def test_public_api_is_importable_and_complete() -> None:
    import provenance.api as api

    missing = [n for n in api.__all__ if not hasattr(api, n)]
    assert missing == []
    assert {"audit", "compare_models", "open_checkpoint", "Fingerprint", "Verdict", "RULES"} <= set(api.__all__)
