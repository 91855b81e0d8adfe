"""The engine package split by ownership (base / connection / transaction /
context) keeps every name importable where it was, and keeps its modules small."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

import docket.engine

# name -> the module that defines it now; every one is also importable from base
HOMES = {
    "Connection": "docket.engine.connection",
    "Engine": "docket.engine.base",
    "OptionEngine": "docket.engine.base",
    "Transaction": "docket.engine.transaction",
    "RootTransaction": "docket.engine.transaction",
    "NestedTransaction": "docket.engine.transaction",
    "TwoPhaseTransaction": "docket.engine.transaction",
    "ExecutionContext": "docket.engine.context",
    "ExceptionContext": "docket.engine.context",
}


@pytest.mark.parametrize("name", sorted(HOMES))
def test_names_stay_importable_from_engine_base(name: str) -> None:
    """``from docket.engine.base import X`` gives the class its own module defines."""
    base = importlib.import_module("docket.engine.base")
    home = importlib.import_module(HOMES[name])
    assert getattr(base, name) is getattr(home, name)
    assert getattr(home, name).__module__ == HOMES[name]
    assert name in base.__all__


def test_engine_modules_stay_under_the_size_limit() -> None:
    """No module of docket.engine reaches 1,000 lines (DESIGN.md: split before that)."""
    package = Path(docket.engine.__file__).parent
    sizes = {p.name: len(p.read_text().splitlines()) for p in package.glob("*.py")}
    assert sizes["base.py"] < 800 and sizes["connection.py"] < 800
    too_big = {name: n for name, n in sizes.items() if n >= 1000}
    assert not too_big, f"split these modules: {too_big}"
