"""The ten workloads of the benchmarks issue, one module each, in report order.

Each module holds the raw DB-API floor (``raw``) and the ORM version (``orm``,
the same code for docket and SQLAlchemy) side by side; see
:mod:`benchmarks.harness` for the protocol.
"""

from __future__ import annotations

import importlib
from types import ModuleType

#: ``--only`` names, in the order the report lists them
NAMES = ("insert", "load", "update", "get", "delete", "rel_insert", "rel_load", "memory",
         "scaling", "streaming")


def load(name: str) -> ModuleType:
    """Import the workload module called ``name`` (one of :data:`NAMES`)."""
    return importlib.import_module(f"benchmarks.workloads.{name}")
