"""SQLite through the standard library's ``sqlite3`` module.

docket, not ``sqlite3``, decides when transactions begin: every connection is
opened with ``isolation_level=None`` (the module's autocommit mode, so it
never issues its own implicit BEGIN/COMMIT) and the engine emits ``BEGIN``
when a transaction starts.  That is what makes SAVEPOINT nesting, DDL inside
transactions and ``PRAGMA foreign_keys`` (which is ignored inside a
transaction) behave as they do on other databases.

``AUTOCOMMIT`` is docket not emitting ``BEGIN``; it is recorded on the
connection object itself (docket opens connections with a ``sqlite3.Connection``
subclass that has room for the flag), falling back to a registry keyed by
``id()`` that holds the connection until it is closed, so an id is never reused
while registered.
"""

from __future__ import annotations

import os
import sqlite3
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


class _DocketSQLiteConnection(sqlite3.Connection):
    """``sqlite3.Connection`` with a slot for docket's AUTOCOMMIT flag."""

    docket_autocommit = False


class SQLiteDialect_pysqlite(SQLiteDialect):
    """The default SQLite dialect (stdlib ``sqlite3``)."""

    driver = "pysqlite"
    dbapi_module = "sqlite3"
    default_paramstyle = "qmark"

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.default_isolation_level = "SERIALIZABLE"
        # id -> connection, for AUTOCOMMIT connections that can't carry the flag
        self._autocommit_conns: dict[int, Any] = {}

    @classmethod
    def install_command(cls) -> str:
        return "a Python built with its standard sqlite3 module (libsqlite3 present at build time)"

    @staticmethod
    def is_memory_url(url: URL) -> bool:
        """True for ``sqlite://``, ``sqlite:///:memory:`` and memory URIs
        (``sqlite:///file:name?mode=memory&uri=true``): one shared connection."""
        db = url.database
        if not db or db == ":memory:":
            return True
        uri = str(url.query.get("uri", "")).lower() in ("true", "1")
        return uri and (url.query.get("mode") == "memory" or "mode=memory" in db)

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
                value = query.pop(key)
                opts[key] = conv(value[-1] if isinstance(value, tuple) else value)
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
        cparams.setdefault("factory", _DocketSQLiteConnection)
        return self.dbapi.connect(*cargs, **cparams)

    def do_begin(self, dbapi_connection: Any) -> None:
        # A memory database's one connection is shared by every Connection of
        # the engine (StaticPool): a second one joins the transaction in progress.
        if not dbapi_connection.in_transaction:
            dbapi_connection.execute("BEGIN")

    def do_commit(self, dbapi_connection: Any) -> None:
        if not dbapi_connection.in_transaction:
            return
        try:
            dbapi_connection.execute("COMMIT")
        except self.dbapi.Error:
            # e.g. a deferred foreign key failed: SQLite keeps the transaction
            # open; end it, as other databases do, so the next BEGIN works
            if dbapi_connection.in_transaction:
                try:
                    dbapi_connection.execute("ROLLBACK")
                except self.dbapi.Error:
                    pass
            raise

    def do_rollback(self, dbapi_connection: Any) -> None:
        if dbapi_connection.in_transaction:
            dbapi_connection.execute("ROLLBACK")

    def do_close(self, dbapi_connection: Any) -> None:
        self._autocommit_conns.pop(id(dbapi_connection), None)
        dbapi_connection.close()

    def is_disconnect(self, e: BaseException, connection: Any, cursor: Any) -> bool:
        text = str(e).lower()
        return isinstance(e, self.dbapi.ProgrammingError) and any(
            m in text for m in _DISCONNECT_MESSAGES
        )

    def _set_autocommit_flag(self, dbapi_connection: Any, on: bool) -> None:
        if isinstance(dbapi_connection, _DocketSQLiteConnection):
            dbapi_connection.docket_autocommit = on
        elif on:
            self._autocommit_conns[id(dbapi_connection)] = dbapi_connection
        else:
            self._autocommit_conns.pop(id(dbapi_connection), None)

    def set_isolation_level(self, dbapi_connection: Any, level: str) -> None:
        level = self._check_isolation_level(level)
        if level == "AUTOCOMMIT":
            self._set_autocommit_flag(dbapi_connection, True)
            return
        self._set_autocommit_flag(dbapi_connection, False)
        value = 1 if level == "READ UNCOMMITTED" else 0
        dbapi_connection.execute(f"PRAGMA read_uncommitted = {value}")

    def get_isolation_level(self, dbapi_connection: Any) -> str:
        if self.is_autocommit(dbapi_connection):
            return "AUTOCOMMIT"
        value = dbapi_connection.execute("PRAGMA read_uncommitted").fetchone()[0]
        return "READ UNCOMMITTED" if value else "SERIALIZABLE"

    def is_autocommit(self, dbapi_connection: Any) -> bool:
        if isinstance(dbapi_connection, _DocketSQLiteConnection):
            return dbapi_connection.docket_autocommit
        return id(dbapi_connection) in self._autocommit_conns


def _bool(value: Any) -> bool:
    return str(value).lower() in ("1", "true", "yes", "on")


dialect = SQLiteDialect_pysqlite
