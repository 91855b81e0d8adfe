"""``inspect(engine)``: an Inspector answering catalog questions."""

from __future__ import annotations

from typing import Any

from docket.engine.base import Connection, Engine
from docket.inspection import _register

__all__ = ["Inspector"]


class Inspector:
    """Catalog queries on an Engine or Connection (``docket.inspect(engine)``).

    On an Engine each question checks out a connection of its own; on a
    Connection the questions run inside that connection's transaction, so they
    see its uncommitted DDL.
    """

    def __init__(self, bind: Engine | Connection) -> None:
        self.bind = bind
        self.dialect = bind.dialect

    @property
    def default_schema_name(self) -> str | None:
        """The schema names default to (None where the dialect has no such notion)."""
        return getattr(self.dialect, "default_schema_name", None)

    def _run(self, fn: Any, *args: Any) -> Any:
        if isinstance(self.bind, Connection):
            return fn(self.bind, *args)
        with self.bind.connect() as conn:
            return fn(conn, *args)

    def get_table_names(self, schema: str | None = None) -> list[str]:
        """Names of the tables in ``schema`` (default: the default schema), sorted."""
        return self._run(self.dialect.get_table_names, schema)

    def has_table(self, table_name: str, schema: str | None = None) -> bool:
        """True if the table (or view) exists."""
        return self._run(self.dialect.has_table, table_name, schema)

    def has_sequence(self, sequence_name: str, schema: str | None = None) -> bool:
        """True if the sequence exists (always False where there are none)."""
        return self._run(
            self.dialect.has_sequence, sequence_name, schema)

    def has_index(self, table_name: str, index_name: str, schema: str | None = None) -> bool:
        """True if the index exists."""
        return self._run(
            self.dialect.has_index, table_name, index_name, schema)

    def get_foreign_keys(self, table_name: str,
                         schema: str | None = None) -> list[dict[str, Any]]:
        """The table's foreign keys as dicts: ``name``, ``constrained_columns``,
        ``referred_schema``, ``referred_table``, ``referred_columns``."""
        return self._run(
            self.dialect.get_foreign_keys, table_name, schema)


_register(Engine, Inspector)
_register(Connection, Inspector)
