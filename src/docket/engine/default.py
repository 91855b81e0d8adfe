"""DefaultDialect: the driver-facing half of a dialect.

It extends the compile-time :class:`docket.sql.dialect.Dialect` with what the
engine needs from a DB-API driver: how to import it and connect, how to
begin/commit/roll back and use savepoints and two-phase commit, how to tell
a lost connection from any other error, isolation levels, and the catalog
queries DDL needs.  Concrete dialects live in ``docket.dialects``.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import TYPE_CHECKING, Any

from docket import exc
from docket.sql.dialect import Dialect

if TYPE_CHECKING:
    from docket.engine.base import Connection
    from docket.engine.url import URL

__all__ = ["DefaultDialect"]


class DefaultDialect(Dialect):
    """Base of every engine dialect.

    Class attributes a concrete dialect sets:
        driver: the DB-API driver's name (``pysqlite``, ``psycopg``).
        dbapi_module: the module to import.
        install_hint: the ``pip install`` argument that provides it.
        install_extra: docket's extra that pulls it in (``postgresql``), or "".
    """

    driver = "default"
    dbapi_module = ""
    install_hint = ""
    install_extra = ""
    isolation_levels: frozenset[str] = frozenset(
        {"SERIALIZABLE", "REPEATABLE READ", "READ COMMITTED", "READ UNCOMMITTED", "AUTOCOMMIT"}
    )

    def __init__(self, dbapi: ModuleType | None = None, paramstyle: str | None = None,
                 isolation_level: str | None = None, **kw: Any) -> None:
        self.dbapi = dbapi if dbapi is not None else self.import_dbapi()
        super().__init__(paramstyle=paramstyle or self.default_paramstyle)
        self.isolation_level = self._check_isolation_level(isolation_level) if (
            isolation_level is not None) else None
        self.server_version_info: tuple[int, ...] | None = None
        self.default_isolation_level: str | None = None
        self._initialized = False

    # -- driver ---------------------------------------------------------------
    @classmethod
    def import_dbapi(cls) -> ModuleType:
        """Import the DB-API module, naming the package to install if missing.

        Raises:
            NoSuchModuleError: the driver is not installed.
        """
        try:
            return importlib.import_module(cls.dbapi_module)
        except ImportError as e:
            raise exc.NoSuchModuleError(
                f"The {cls.name}+{cls.driver} dialect needs the DB-API driver "
                f"{cls.dbapi_module!r}, which could not be imported ({e}). Install it with: "
                f"{cls.install_command()}"
            ) from None

    @classmethod
    def install_command(cls) -> str:
        """How to install the driver, e.g. ``pip install 'psycopg[binary]'``."""
        text = f"pip install {cls.install_hint}"
        if cls.install_extra:
            text += f" (or: pip install 'docket[{cls.install_extra}]')"
        return text

    def create_connect_args(self, url: URL) -> tuple[list[Any], dict[str, Any]]:
        """Positional and keyword arguments for ``dbapi.connect()``."""
        opts = url.translate_connect_args()
        opts.update(url.query)
        return [], opts

    def connect(self, *cargs: Any, **cparams: Any) -> Any:
        """Open a new DB-API connection."""
        return self.dbapi.connect(*cargs, **cparams)

    def on_connect(self, dbapi_connection: Any) -> None:
        """Prepare a new DB-API connection (isolation level, session settings)."""
        if self.isolation_level is not None:
            self.set_isolation_level(dbapi_connection, self.isolation_level)

    def initialize(self, dbapi_connection: Any) -> None:
        """Learn about the server once, from the engine's first new DB-API
        connection (before :meth:`on_connect` changes its settings): the
        server version and the default isolation level."""
        version = self._get_server_version_info(dbapi_connection)
        if version is not None:
            self.server_version_info = version
        try:
            self.default_isolation_level = self.get_isolation_level(dbapi_connection)
        except NotImplementedError:
            pass
        self._initialized = True

    def _get_server_version_info(self, dbapi_connection: Any) -> tuple[int, ...] | None:
        return None

    # -- transactions -------------------------------------------------------------
    def do_begin(self, dbapi_connection: Any) -> None:
        """Start a transaction (a no-op for drivers that begin implicitly)."""

    def do_commit(self, dbapi_connection: Any) -> None:
        """Commit the DB-API connection's transaction."""
        dbapi_connection.commit()

    def do_rollback(self, dbapi_connection: Any) -> None:
        """Roll back the DB-API connection's transaction."""
        dbapi_connection.rollback()

    def do_close(self, dbapi_connection: Any) -> None:
        """Close a DB-API connection for good."""
        dbapi_connection.close()

    def do_ping(self, dbapi_connection: Any) -> bool:
        """True if the connection answers (raises if it is dead; pre-ping)."""
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("SELECT 1")
            cursor.fetchall()
        finally:
            cursor.close()
        return True

    def do_savepoint(self, connection: Connection, name: str) -> None:
        """Emit SAVEPOINT (and the matching statements below) through ``connection``."""
        connection.exec_driver_sql(f"SAVEPOINT {self.quote(name)}")

    def do_rollback_to_savepoint(self, connection: Connection, name: str) -> None:
        connection.exec_driver_sql(f"ROLLBACK TO SAVEPOINT {self.quote(name)}")

    def do_release_savepoint(self, connection: Connection, name: str) -> None:
        connection.exec_driver_sql(f"RELEASE SAVEPOINT {self.quote(name)}")

    def _twophase_unsupported(self) -> exc.DocketError:
        return exc.InvalidRequestError(
            f"The {self.name} dialect does not support two-phase commit "
            "(begin_twophase/prepare/recover_twophase); use a plain transaction with "
            "connection.begin(), or a database that has it (PostgreSQL)."
        )

    def do_begin_twophase(self, connection: Connection, xid: Any) -> None:
        """Two-phase commit hooks; this default says the dialect has none."""
        raise self._twophase_unsupported()

    def do_prepare_twophase(self, connection: Connection, xid: Any) -> None:
        raise self._twophase_unsupported()

    def do_commit_twophase(self, connection: Connection, xid: Any, is_prepared: bool = True,
                           recover: bool = False) -> None:
        raise self._twophase_unsupported()

    def do_rollback_twophase(self, connection: Connection, xid: Any, is_prepared: bool = True,
                             recover: bool = False) -> None:
        raise self._twophase_unsupported()

    def do_recover_twophase(self, connection: Connection) -> list[Any]:
        raise self._twophase_unsupported()

    # -- execution ------------------------------------------------------------
    def do_execute(self, cursor: Any, statement: str, parameters: Any, context: Any = None) -> None:
        """``cursor.execute``; dialects override for driver quirks."""
        cursor.execute(statement, parameters)

    def do_execute_no_params(self, cursor: Any, statement: str, context: Any = None) -> None:
        cursor.execute(statement)

    def do_executemany(self, cursor: Any, statement: str, parameters: Any,
                       context: Any = None) -> None:
        cursor.executemany(statement, parameters)

    def create_server_side_cursor(self, dbapi_connection: Any) -> Any:
        """A cursor that fetches rows from the server in batches (dialects with
        ``supports_server_side_cursors``)."""
        raise NotImplementedError(f"The {self.name} dialect has no server-side cursors")

    def do_executemany_returning(self, cursor: Any, statement: str, parameters: Any,
                                 context: Any = None) -> list[Any]:
        """Run a RETURNING statement once per parameter set and return every row,
        in parameter order.  This default executes row by row; a dialect with
        ``insert_executemany_returning`` overrides it with a batched form."""
        rows: list[Any] = []
        for params in parameters:
            cursor.execute(statement, params)
            rows.extend(cursor.fetchall())
        return rows

    def is_disconnect(self, e: BaseException, connection: Any, cursor: Any) -> bool:
        """True when ``e`` means the connection is gone and must be replaced."""
        return False

    # -- isolation ---------------------------------------------------------------
    def _check_isolation_level(self, level: str) -> str:
        norm = level.replace("_", " ").upper()
        if norm not in self.isolation_levels:
            raise exc.ArgumentError(
                f"Invalid isolation level {level!r} for dialect {self.name}; valid levels "
                f"are {sorted(self.isolation_levels)}."
            )
        return norm

    def set_isolation_level(self, dbapi_connection: Any, level: str) -> None:
        """Put the DB-API connection at ``level`` (a name from ``isolation_levels``)."""
        raise NotImplementedError

    def get_isolation_level(self, dbapi_connection: Any) -> str:
        """The level in effect on the DB-API connection (asks the database)."""
        raise NotImplementedError

    def reset_isolation_level(self, dbapi_connection: Any) -> None:
        """Put back the engine's level (``create_engine(isolation_level=...)``),
        else the database's default, after a per-connection change."""
        level = self.isolation_level or self.default_isolation_level
        if level is not None:
            self.set_isolation_level(dbapi_connection, level)

    def is_autocommit(self, dbapi_connection: Any) -> bool:
        """True when the DB-API connection is in autocommit mode."""
        return False

    # -- catalog -----------------------------------------------------------------
    def has_table(self, connection: Connection, table_name: str,
                  schema: str | None = None) -> bool:
        """Catalog queries used by DDL and the Inspector (dialects implement them)."""
        raise NotImplementedError

    def has_sequence(self, connection: Connection, sequence_name: str,
                     schema: str | None = None) -> bool:
        return False

    def has_type(self, connection: Connection, type_name: str,
                 schema: str | None = None) -> bool:
        return False

    def get_table_names(self, connection: Connection, schema: str | None = None) -> list[str]:
        raise NotImplementedError

    def has_index(self, connection: Connection, table_name: str, index_name: str,
                  schema: str | None = None) -> bool:
        raise NotImplementedError

    def get_foreign_keys(self, connection: Connection, table_name: str,
                         schema: str | None = None) -> list[dict[str, Any]]:
        raise NotImplementedError
