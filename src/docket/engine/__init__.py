"""Engines, connections, pools and results."""

from docket.engine import reflection as _reflection  # noqa: F401  (registers inspect())
from docket.engine.base import (
    Connection,
    Engine,
    NestedTransaction,
    RootTransaction,
    Transaction,
    TwoPhaseTransaction,
)
from docket.engine.create import create_engine, engine_from_config
from docket.engine.reflection import Inspector
from docket.engine.result import (
    ChunkedIteratorResult,
    CursorResult,
    FrozenResult,
    IteratorResult,
    MappingResult,
    Result,
    Row,
    RowMapping,
    ScalarResult,
)
from docket.engine.url import URL, make_url

__all__ = [
    "URL", "ChunkedIteratorResult", "Connection", "CursorResult", "Engine", "FrozenResult",
    "Inspector", "IteratorResult", "MappingResult", "NestedTransaction", "Result",
    "RootTransaction", "Row", "RowMapping", "ScalarResult", "Transaction",
    "TwoPhaseTransaction", "create_engine", "engine_from_config", "make_url",
]
