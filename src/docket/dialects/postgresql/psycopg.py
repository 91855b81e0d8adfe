"""PostgreSQL through psycopg 3 (the default PostgreSQL driver)."""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, Any

from docket.dialects.postgresql.base import PGDialect

if TYPE_CHECKING:
    from docket.engine.url import URL

__all__ = ["PGDialect_psycopg", "dialect"]

# names of server-side cursors (unique per process, so per connection)
_cursor_names = itertools.count(1)


class PGDialect_psycopg(PGDialect):
    """psycopg 3: ``executemany`` is pipelined by the driver, so a batch of
    INSERTs costs one round trip."""

    driver = "psycopg"
    dbapi_module = "psycopg"
    default_paramstyle = "format"

    def create_connect_args(self, url: URL) -> tuple[list[Any], dict[str, Any]]:
        opts = url.translate_connect_args(username="user", database="dbname")
        opts.update(url.query)
        if "port" in opts:
            opts["port"] = int(opts["port"])
        return [], opts

    def do_executemany_returning(self, cursor: Any, statement: str, parameters: Any,
                                 context: Any = None) -> list[Any]:
        # one pipelined batch; each parameter set's rows are a result set of their own
        cursor.executemany(statement, parameters, returning=True)
        rows: list[Any] = []
        while True:
            rows.extend(cursor.fetchall())
            if not cursor.nextset():
                return rows

    def create_server_side_cursor(self, dbapi_connection: Any) -> Any:
        return dbapi_connection.cursor(name=f"docket_c{next(_cursor_names)}")

    def _get_server_version_info(self, dbapi_connection: Any) -> tuple[int, ...] | None:
        return divmod(dbapi_connection.info.server_version, 10000)

    def _driver_in_transaction(self, dbapi_connection: Any) -> bool:
        return bool(dbapi_connection.info.transaction_status !=
                    self.dbapi.pq.TransactionStatus.IDLE)

    def set_isolation_level(self, dbapi_connection: Any, level: str) -> None:
        level = self._check_isolation_level(level)
        if level == "AUTOCOMMIT":
            dbapi_connection.autocommit = True
            return
        dbapi_connection.autocommit = False
        dbapi_connection.isolation_level = self.dbapi.IsolationLevel[level.replace(" ", "_")]

    def reset_isolation_level(self, dbapi_connection: Any) -> None:
        dbapi_connection.autocommit = False
        dbapi_connection.isolation_level = None  # the server's default
        if self.isolation_level is not None:
            self.set_isolation_level(dbapi_connection, self.isolation_level)


dialect = PGDialect_psycopg
