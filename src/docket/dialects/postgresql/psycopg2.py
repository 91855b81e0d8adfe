"""PostgreSQL through psycopg2 (``postgresql+psycopg2://``, or the fallback
when psycopg 3 is not installed)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from docket.dialects.postgresql.base import PGDialect

if TYPE_CHECKING:
    from docket.engine.url import URL

__all__ = ["PGDialect_psycopg2", "dialect"]


class PGDialect_psycopg2(PGDialect):
    """psycopg2."""

    driver = "psycopg2"
    dbapi_module = "psycopg2"
    default_paramstyle = "format"
    install_hint = "psycopg2-binary  (or: pip install 'docket[psycopg2]')"
    insert_executemany_returning = False

    def create_connect_args(self, url: URL) -> tuple[list[Any], dict[str, Any]]:
        opts = url.translate_connect_args(username="user", database="dbname")
        opts.update(url.query)
        return [], opts

    def connect(self, *cargs: Any, **cparams: Any) -> Any:
        conn = self.dbapi.connect(*cargs, **cparams)
        if self.server_version_info is None:
            major, minor = divmod(conn.server_version, 10000)
            self.server_version_info = (major, minor)
        return conn

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
