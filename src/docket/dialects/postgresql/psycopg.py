"""PostgreSQL through psycopg 3 (the default PostgreSQL driver)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from docket.dialects.postgresql.base import PGDialect

if TYPE_CHECKING:
    from docket.engine.url import URL

__all__ = ["PGDialect_psycopg", "dialect"]


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
