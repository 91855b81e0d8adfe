"""``inspect(engine)``: an Inspector answering catalog questions."""

from __future__ import annotations

from typing import Any

from docket.engine.base import Connection, Engine
from docket.inspection import _register

__all__ = ["Inspector"]


class Inspector:
    """Catalog queries on an Engine or Connection (``docket.inspect(engine)``)."""

    def __init__(self, bind: Engine | Connection) -> None:
        self.bind = bind
        self.dialect = bind.dialect

    def _run(self, fn: Any, *args: Any) -> Any:
        if isinstance(self.bind, Connection):
            return fn(self.bind, *args)
        with self.bind.connect() as conn:
            return fn(conn, *args)

    def get_table_names(self, schema: str | None = None) -> list[str]:
        """Names of the tables in ``schema`` (default: the default schema)."""
        return self._run(self.dialect.get_table_names, schema)  # type: ignore[no-any-return]

    def has_table(self, table_name: str, schema: str | None = None) -> bool:
        return self._run(self.dialect.has_table, table_name, schema)  # type: ignore[no-any-return]

    def has_sequence(self, sequence_name: str, schema: str | None = None) -> bool:
        return self._run(  # type: ignore[no-any-return]
            self.dialect.has_sequence, sequence_name, schema)


_register(Engine, Inspector)
_register(Connection, Inspector)
