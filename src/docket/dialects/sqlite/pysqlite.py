"""SQLite through the standard library's ``sqlite3`` module.

docket, not ``sqlite3``, decides when transactions begin: every connection is
opened with ``isolation_level=None`` (the module's autocommit mode, so it
never issues its own implicit BEGIN/COMMIT) and the engine emits ``BEGIN``
when a transaction starts.  That is what makes SAVEPOINT nesting, DDL inside
transactions and ``PRAGMA foreign_keys`` (which is ignored inside a
transaction) behave as they do on other databases.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from docket import exc
from docket.dialects.sqlite.base import SQLiteDialect

if TYPE_CHECKING:
    from docket.engine.url import URL

__all__ = ["SQLiteDialect_pysqlite", "dialect"]

_DISCONNECT_MESSAGES = (
    "cannot operate on a closed database",
    "cannot operate on a closed cursor",
)


class SQLiteDialect_pysqlite(SQLiteDialect):
    """The default SQLite dialect (stdlib ``sqlite3``)."""

    driver = "pysqlite"
    dbapi_module = "sqlite3"
    install_hint = "(sqlite3 is part of the standard library; rebuild Python with it)"
    default_paramstyle = "qmark"

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.default_isolation_level = "SERIALIZABLE"

    @staticmethod
    def is_memory_url(url: URL) -> bool:
        db = url.database
        return not db or db == ":memory:" or (
            "mode=memory" in db and str(url.query.get("uri", "")).lower() in ("true", "1")
        )

    def create_connect_args(self, url: URL) -> tuple[list[Any], dict[str, Any]]:
        if url.username or url.password or url.host or url.port:
            raise exc.ArgumentError(
                f"Invalid SQLite URL: {url!r}. Valid forms are sqlite:// (memory), "
                "sqlite:///relative/path.db and sqlite:////absolute/path.db."
            )
        opts: dict[str, Any] = {}
        query = dict(url.query)
        uri = str(query.pop("uri", "")).lower() in ("true", "1")
        for key, conv in (("timeout", float), ("check_same_thread", _bool),
                          ("cached_statements", int)):
            if key in query:
                opts[key] = conv(query.pop(key))
        database = url.database or ":memory:"
        if uri:
            opts["uri"] = True
            if query:
                database += "?" + "&".join(f"{k}={v}" for k, v in query.items())
        elif query:
            raise exc.ArgumentError(
                f"Unknown SQLite URL options {sorted(query)}; supported are timeout, "
                "check_same_thread, cached_statements and uri=true (with file: URIs)."
            )
        elif database != ":memory:":
            database = os.path.expanduser(database)
        # the engine's pool hands connections between threads; sqlite3 itself is
        # threadsafe, docket forbids concurrent use of one Connection
        opts.setdefault("check_same_thread", False)
        opts["isolation_level"] = None
        return [database], opts

    def connect(self, *cargs: Any, **cparams: Any) -> Any:
        cparams["isolation_level"] = None  # see module docstring
        return self.dbapi.connect(*cargs, **cparams)

    def do_begin(self, dbapi_connection: Any) -> None:
        dbapi_connection.execute("BEGIN")

    def do_commit(self, dbapi_connection: Any) -> None:
        if dbapi_connection.in_transaction:
            dbapi_connection.execute("COMMIT")

    def do_rollback(self, dbapi_connection: Any) -> None:
        if dbapi_connection.in_transaction:
            dbapi_connection.execute("ROLLBACK")

    def is_disconnect(self, e: BaseException, connection: Any, cursor: Any) -> bool:
        text = str(e).lower()
        return isinstance(e, self.dbapi.ProgrammingError) and any(
            m in text for m in _DISCONNECT_MESSAGES
        )

    def set_isolation_level(self, dbapi_connection: Any, level: str) -> None:
        level = self._check_isolation_level(level)
        if level == "AUTOCOMMIT":
            _autocommit_conns.add(id(dbapi_connection))
            return
        _autocommit_conns.discard(id(dbapi_connection))
        value = 1 if level == "READ UNCOMMITTED" else 0
        dbapi_connection.execute(f"PRAGMA read_uncommitted = {value}")

    def get_isolation_level(self, dbapi_connection: Any) -> str:
        if id(dbapi_connection) in _autocommit_conns:
            return "AUTOCOMMIT"
        value = dbapi_connection.execute("PRAGMA read_uncommitted").fetchone()[0]
        return "READ UNCOMMITTED" if value else "SERIALIZABLE"

    def is_autocommit(self, dbapi_connection: Any) -> bool:
        return id(dbapi_connection) in _autocommit_conns


# ids of sqlite3 connections put into AUTOCOMMIT mode (sqlite3.Connection has
# no attribute for "the engine should not emit BEGIN")
_autocommit_conns: set[int] = set()


def _bool(value: Any) -> bool:
    return str(value).lower() in ("1", "true", "yes", "on")


dialect = SQLiteDialect_pysqlite
