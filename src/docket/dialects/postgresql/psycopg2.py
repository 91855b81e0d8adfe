"""PostgreSQL through psycopg2 (``postgresql+psycopg2://``, or the fallback
when psycopg 3 is not installed)."""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, Any

from docket.dialects.postgresql.base import PGDialect

if TYPE_CHECKING:
    from docket.engine.url import URL

__all__ = ["PGDialect_psycopg2", "dialect"]

# names of server-side cursors (unique per process, so per connection)
_cursor_names = itertools.count(1)


class PGDialect_psycopg2(PGDialect):
    """psycopg2."""

    driver = "psycopg2"
    dbapi_module = "psycopg2"
    default_paramstyle = "format"
    install_hint = "psycopg2-binary"
    install_extra = "psycopg2"
    insert_executemany_returning = False

    def create_connect_args(self, url: URL) -> tuple[list[Any], dict[str, Any]]:
        opts = url.translate_connect_args(username="user", database="dbname")
        opts.update(url.query)
        return [], opts

    def create_server_side_cursor(self, dbapi_connection: Any) -> Any:
        return dbapi_connection.cursor(f"docket_c{next(_cursor_names)}")

    def _get_server_version_info(self, dbapi_connection: Any) -> tuple[int, ...] | None:
        return divmod(dbapi_connection.server_version, 10000)

    def _driver_in_transaction(self, dbapi_connection: Any) -> bool:
        # psycopg2.extensions.TRANSACTION_STATUS_IDLE == 0
        return bool(dbapi_connection.get_transaction_status() != 0)

    def set_isolation_level(self, dbapi_connection: Any, level: str) -> None:
        level = self._check_isolation_level(level)
        if level == "AUTOCOMMIT":
            dbapi_connection.autocommit = True
            return
        dbapi_connection.autocommit = False
        dbapi_connection.set_session(isolation_level=level)

    def reset_isolation_level(self, dbapi_connection: Any) -> None:
        dbapi_connection.autocommit = False
        dbapi_connection.set_session(isolation_level="DEFAULT")
        if self.isolation_level is not None:
            self.set_isolation_level(dbapi_connection, self.isolation_level)


dialect = PGDialect_psycopg2
