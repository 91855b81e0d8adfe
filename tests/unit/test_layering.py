"""The import graph of ``src/docket`` keeps DESIGN.md's layering honest.

Layers, lowest first: ``exc`` < ``_util`` (with ``event`` and ``inspection``) <
``sql`` < ``engine`` < ``dialects`` < ``orm``.  A module may import from its own
layer or lower, never higher; ``docket/__init__.py`` and ``docket.testing`` may
import anything.  Every ``import`` statement counts, including ones inside
functions and under ``if TYPE_CHECKING:`` (a type-only edge is still a design
dependency).  Loading a dialect by *name* (``importlib.import_module``) is how a
lower layer reaches a higher one at runtime, and is not an import statement.

Separately, nothing outside the standard library may be imported when a module
is imported: drivers (psycopg, psycopg2, pymysql) are imported inside functions.
"""

from __future__ import annotations

import ast
import importlib
import json
import os
import pkgutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import docket

PACKAGE_DIR = Path(docket.__file__).resolve().parent

# Rank of each layer; "top" layers may import anything.
TOP = 100
LAYERS: dict[str, int] = {
    "exc": 0,
    "_util": 1,
    "event": 1,
    "inspection": 1,
    "sql": 2,
    "engine": 3,
    "dialects": 4,
    "orm": 5,
    "testing": TOP,
}
ROOT = "docket"  # the package __init__: re-exports everything, so it is TOP too

# Drivers and other optional packages that must not be needed to import docket.
OPTIONAL_PACKAGES = ("psycopg", "psycopg2", "psycopg_binary", "pymysql", "MySQLdb", "sqlalchemy")


@dataclass(frozen=True)
class Edge:
    """One import statement: ``source`` imports ``target`` at ``lineno``."""

    source: str
    target: str
    lineno: int
    lazy: bool  # inside a function body: runs only when called
    type_only: bool  # under ``if TYPE_CHECKING:``: never runs

    def __str__(self) -> str:
        tags = [
            t for t, on in (("in function", self.lazy), ("TYPE_CHECKING", self.type_only)) if on
        ]
        suffix = f" ({', '.join(tags)})" if tags else ""
        return f"{self.source}:{self.lineno} -> {self.target}{suffix}"


def source_modules() -> dict[str, tuple[Path, bool]]:
    """Map every module name under src/docket to (file, is_package), from the files."""
    found: dict[str, tuple[Path, bool]] = {}
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts.pop()
        found[".".join(parts)] = (path, is_package)
    return found


MODULES = source_modules()


def layer_of(module: str) -> tuple[str, int] | None:
    """Return (layer name, rank) of a docket module, or None if unassigned."""
    parts = module.split(".")
    if parts == [ROOT]:
        return ROOT, TOP
    first = parts[1]
    return (first, LAYERS[first]) if first in LAYERS else None


class _ImportCollector(ast.NodeVisitor):
    """Collect the imports of one module, noting function-level and type-only ones."""

    def __init__(self, module: str, is_package: bool) -> None:
        self.module = module
        self.package = module if is_package else module.rpartition(".")[0]
        self.edges: list[Edge] = []
        self._lazy = 0
        self._type_only = 0

    def _add(self, target: str, node: ast.stmt) -> None:
        self.edges.append(
            Edge(self.module, target, node.lineno, self._lazy > 0, self._type_only > 0)
        )

    def _nested(self, node: ast.AST, *, lazy: bool = False, type_only: bool = False) -> None:
        self._lazy += lazy
        self._type_only += type_only
        self.generic_visit(node)
        self._lazy -= lazy
        self._type_only -= type_only

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self._nested(node, lazy=True)

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> None:
        self._nested(node, lazy=True)

    def visit_If(self, node: ast.If) -> None:
        test = node.test
        name = test.id if isinstance(test, ast.Name) else getattr(test, "attr", None)
        if name != "TYPE_CHECKING":
            self.generic_visit(node)
            return
        self._type_only += 1
        for child in node.body:
            self.visit(child)
        self._type_only -= 1
        for child in node.orelse:
            self.visit(child)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._add(alias.name, node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level:
            base_parts = self.package.split(".")
            if node.level > 1:
                base_parts = base_parts[: len(base_parts) - (node.level - 1)]
            base = ".".join([*base_parts, node.module] if node.module else base_parts)
        else:
            base = node.module or ""
        for alias in node.names:
            # ``from pkg import name``: the submodule pkg.name if there is one.
            candidate = f"{base}.{alias.name}"
            self._add(candidate if candidate in MODULES else base, node)


def all_edges() -> list[Edge]:
    """Every import statement in src/docket, with relative imports resolved."""
    edges: list[Edge] = []
    for name, (path, is_package) in MODULES.items():
        collector = _ImportCollector(name, is_package)
        collector.visit(ast.parse(path.read_text(encoding="utf-8"), filename=str(path)))
        edges += collector.edges
    return edges


def test_every_module_is_assigned_a_layer() -> None:
    """Each module under src/docket belongs to a layer listed in LAYERS."""
    unassigned = sorted(name for name in MODULES if layer_of(name) is None)
    assert not unassigned, (
        f"modules not assigned to a layer: {unassigned}; add their top-level package "
        "to LAYERS in tests/unit/test_layering.py (and to DESIGN.md's layer list)"
    )


def upward_imports(edges: list[Edge]) -> list[str]:
    """Describe each edge that goes from a lower layer to a higher one."""
    bad = []
    for edge in edges:
        if edge.target != ROOT and not edge.target.startswith(ROOT + "."):
            continue
        src, dst = layer_of(edge.source), layer_of(edge.target)
        if src is None or dst is None:
            continue  # reported by test_every_module_is_assigned_a_layer
        if dst[1] > src[1]:
            bad.append(f"{edge}   [{src[0]} may not import {dst[0]}]")
    return bad


def test_imports_point_down_the_layers() -> None:
    """No module imports from a higher layer (sql never sees engine/dialects; only orm+ sees orm)."""
    bad = upward_imports(all_edges())
    assert not bad, "imports pointing up the layers:\n  " + "\n  ".join(bad)


def test_layer_rule_flags_upward_edges_only() -> None:
    """The rule rejects sql->engine, engine->orm, exc->event and layer->root; allows the rest."""

    def edge(source: str, target: str) -> Edge:
        return Edge(source, target, 1, lazy=True, type_only=False)

    upward = [
        edge("docket.sql.schema", "docket.engine.base"),
        edge("docket.sql.schema", "docket.dialects.sqlite"),
        edge("docket.engine.base", "docket.orm.session"),
        edge("docket.exc", "docket.event"),
        edge("docket.sql.schema", "docket"),
    ]
    allowed = [
        edge("docket.orm.session", "docket.engine.base"),
        edge("docket.dialects.sqlite", "docket.sql.compiler"),
        edge("docket.event", "docket._util.topo"),
        edge("docket.testing.fake", "docket.orm.session"),
        edge("docket", "docket.orm"),
        edge("docket.sql.schema", "typing"),
    ]
    assert len(upward_imports(upward)) == len(upward)
    assert upward_imports(allowed) == []


def test_import_time_dependencies_are_stdlib_only() -> None:
    """At import time modules use only the stdlib and docket; drivers are imported in functions."""
    allowed = set(sys.stdlib_module_names) | {ROOT, "__future__"}
    bad = [
        str(edge)
        for edge in all_edges()
        if not (edge.lazy or edge.type_only) and edge.target.split(".")[0] not in allowed
    ]
    assert not bad, (
        "non-stdlib imports at module level (move them into the function that needs "
        "the driver):\n  " + "\n  ".join(bad)
    )


def test_pkgutil_sees_every_source_module() -> None:
    """pkgutil finds every .py file, so no sub-directory is missing its __init__.py."""
    walked = {m.name for m in pkgutil.walk_packages(docket.__path__, "docket.")} | {ROOT}
    assert walked == set(MODULES), f"missing from the package walk: {set(MODULES) - walked}"


def test_every_module_imports() -> None:
    """Every module under src/docket imports cleanly in this interpreter."""
    failed = {}
    for info in pkgutil.walk_packages(docket.__path__, "docket."):
        try:
            importlib.import_module(info.name)
        except Exception as err:  # report all failures at once
            failed[info.name] = f"{type(err).__name__}: {err}"
    assert not failed, f"modules that fail to import: {failed}"


_BLOCKED_IMPORT_SCRIPT = """
import importlib, importlib.abc, json, pkgutil, sys

BLOCKED = set(sys.argv[1].split(","))

class Blocker(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"{name} is blocked: simulating an uninstalled driver")
        return None

sys.meta_path.insert(0, Blocker())
import docket
failed = {}
for info in pkgutil.walk_packages(docket.__path__, "docket."):
    try:
        importlib.import_module(info.name)
    except Exception as err:
        failed[info.name] = f"{type(err).__name__}: {err}"
print(json.dumps(failed))
"""


def test_every_module_imports_without_drivers() -> None:
    """With psycopg, psycopg2, pymysql and sqlalchemy unimportable, every module still imports."""
    env = dict(os.environ)
    src = str(PACKAGE_DIR.parent)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [src, env.get("PYTHONPATH")]))
    proc = subprocess.run(
        [sys.executable, "-c", _BLOCKED_IMPORT_SCRIPT, ",".join(OPTIONAL_PACKAGES)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    failed = json.loads(proc.stdout.strip().splitlines()[-1])
    assert not failed, f"modules that fail to import while drivers are blocked: {failed}"


def test_collector_resolves_relative_and_lazy_imports() -> None:
    """The import parser resolves relative imports and tells module-level from lazy ones."""
    code = (
        "from typing import TYPE_CHECKING\n"
        "from . import schema\n"
        "from ..engine import base\n"
        "from .. import exc\n"
        "if TYPE_CHECKING:\n"
        "    from docket.orm import Session\n"
        "def f():\n"
        "    import psycopg\n"
    )
    collector = _ImportCollector("docket.sql.compiler", is_package=False)
    collector.visit(ast.parse(code))
    got = {(e.target, e.lazy, e.type_only) for e in collector.edges}
    assert got == {
        ("typing", False, False),
        ("docket.sql.schema" if "docket.sql.schema" in MODULES else "docket.sql", False, False),
        (
            "docket.engine.base" if "docket.engine.base" in MODULES else "docket.engine",
            False,
            False,
        ),
        ("docket.exc", False, False),
        ("docket.orm", False, True),
        ("psycopg", True, False),
    }
