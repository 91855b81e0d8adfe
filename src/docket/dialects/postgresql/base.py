"""PostgreSQL: compiler overrides and dialect capabilities shared by the
psycopg 3 and psycopg2 drivers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from docket.dialects.postgresql import ddl as pg_ddl
from docket.dialects.postgresql.types import PGTypeCompiler, colspecs
from docket.engine.default import DefaultDialect
from docket.sql.compiler import SQLCompiler
from docket.sql.selectable import FromClause

if TYPE_CHECKING:
    from docket.engine.base import Connection
    from docket.sql.selectable import Select

__all__ = ["PGCompiler", "PGDialect"]

# SQLSTATE classes and codes that mean the session is gone
_DISCONNECT_SQLSTATES = ("08", "57P01", "57P02", "57P03")
_DISCONNECT_MESSAGES = (
    "server closed the connection",
    "terminating connection",
    "connection is closed",
    "connection already closed",
    "the connection is lost",
    "consuming input failed",
    "could not receive data from server",
    "could not send data to server",
    "ssl connection has been closed",
    "connection not open",
    "connection has been closed",
    "no connection to the server",
    "cursor already closed",
)


class PGCompiler(SQLCompiler):
    """PostgreSQL SQL: native ILIKE, DISTINCT ON, FOR UPDATE OF, DELETE ... USING."""

    def delete_extra_from_clause(self, froms: Sequence[FromClause], **kw: Any) -> str:
        """``DELETE FROM a USING b WHERE a.x = b.y``: the other tables a
        DELETE's WHERE clause reads."""
        return " USING " + ", ".join(self.process(f, asfrom=True, **kw) for f in froms)

    def render_distinct(self, select: Select, **kw: Any) -> str:
        if select._distinct_on:
            return "DISTINCT ON (" + ", ".join(
                self.process(e, **kw) for e in select._distinct_on
            ) + ") "
        return "DISTINCT "

    def render_for_update(self, opts: dict[str, Any], **kw: Any) -> str:
        if opts["read"]:
            text = " FOR KEY SHARE" if opts["key_share"] else " FOR SHARE"
        else:
            text = " FOR NO KEY UPDATE" if opts["key_share"] else " FOR UPDATE"
        if opts["of"]:
            tables = []
            for o in opts["of"]:
                t = o if isinstance(o, FromClause) else getattr(o, "table", None)
                name = self.dialect.format_table(t) if t is not None else self.process(o)
                if name not in tables:
                    tables.append(name)
            text += " OF " + ", ".join(tables)
        if opts["nowait"]:
            text += " NOWAIT"
        if opts["skip_locked"]:
            text += " SKIP LOCKED"
        return text


class PGDialect(DefaultDialect):
    """PostgreSQL capabilities (server ≥ 10)."""

    name = "postgresql"
    statement_compiler = PGCompiler
    ddl_compiler = pg_ddl.PGDDLCompiler
    type_compiler_cls = PGTypeCompiler
    colspecs = colspecs
    install_hint = "'psycopg[binary]'"
    install_extra = "postgresql"

    insert_returning = True
    update_returning = True
    delete_returning = True
    insert_executemany_returning = True
    implicit_returning = True
    supports_multivalues_insert = True
    supports_sequences = True
    supports_identity_columns = True
    supports_native_boolean = True
    supports_native_enum = True
    supports_native_uuid = True
    supports_native_decimal = True
    supports_alter = True
    supports_two_phase = True
    supports_server_side_cursors = True
    supports_on_conflict = True
    supports_distinct_on = True
    supports_ilike = True
    max_identifier_length = 63

    def is_disconnect(self, e: BaseException, connection: Any, cursor: Any) -> bool:
        if connection is not None and getattr(connection, "closed", False):
            return True
        if connection is not None and getattr(connection, "broken", False):
            return True
        state = getattr(e, "sqlstate", None) or getattr(e, "pgcode", None)
        if state and state.startswith(_DISCONNECT_SQLSTATES):
            return True
        text = str(e).lower()
        return any(m in text for m in _DISCONNECT_MESSAGES)

    def do_ping(self, dbapi_connection: Any) -> bool:
        super().do_ping(dbapi_connection)
        if not dbapi_connection.autocommit:
            dbapi_connection.rollback()  # don't leave the ping's transaction open
        return True

    def is_autocommit(self, dbapi_connection: Any) -> bool:
        return bool(dbapi_connection.autocommit)

    def _driver_in_transaction(self, dbapi_connection: Any) -> bool:
        """True while the DB-API connection has a transaction open."""
        raise NotImplementedError

    def get_isolation_level(self, dbapi_connection: Any) -> str:
        if dbapi_connection.autocommit:
            return "AUTOCOMMIT"
        # the query opens a transaction if none is open: close only that one,
        # never one the caller has in progress
        was_idle = not self._driver_in_transaction(dbapi_connection)
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("SHOW transaction_isolation")
            value = cursor.fetchone()[0]
        finally:
            cursor.close()
            if was_idle:
                dbapi_connection.rollback()
        return str(value).upper()

    # two-phase commit through the DB-API tpc_* extension (both drivers have it)
    def do_begin_twophase(self, connection: Connection, xid: Any) -> None:
        connection.connection.dbapi_connection.tpc_begin(xid)

    def do_prepare_twophase(self, connection: Connection, xid: Any) -> None:
        connection.connection.dbapi_connection.tpc_prepare()

    def do_commit_twophase(self, connection: Connection, xid: Any, is_prepared: bool = True,
                           recover: bool = False) -> None:
        dbapi_conn = connection.connection.dbapi_connection
        if recover:
            dbapi_conn.rollback()
            dbapi_conn.tpc_commit(xid)
        else:
            dbapi_conn.tpc_commit()

    def do_rollback_twophase(self, connection: Connection, xid: Any, is_prepared: bool = True,
                             recover: bool = False) -> None:
        dbapi_conn = connection.connection.dbapi_connection
        if recover:
            dbapi_conn.rollback()
            dbapi_conn.tpc_rollback(xid)
        else:
            dbapi_conn.tpc_rollback()

    def do_recover_twophase(self, connection: Connection) -> list[Any]:
        dbapi_conn = connection.connection.dbapi_connection
        return [getattr(x, "gtrid", x) for x in dbapi_conn.tpc_recover()]

    def has_table(self, connection: Connection, table_name: str,
                  schema: str | None = None) -> bool:
        return pg_ddl.has_table(connection, table_name, schema)

    def has_sequence(self, connection: Connection, sequence_name: str,
                     schema: str | None = None) -> bool:
        return pg_ddl.has_sequence(connection, sequence_name, schema)

    def has_type(self, connection: Connection, type_name: str,
                 schema: str | None = None) -> bool:
        return pg_ddl.has_type(connection, type_name, schema)

    def get_table_names(self, connection: Connection, schema: str | None = None) -> list[str]:
        return pg_ddl.get_table_names(connection, schema)

    def has_index(self, connection: Connection, table_name: str, index_name: str,
                  schema: str | None = None) -> bool:
        return pg_ddl.has_index(connection, table_name, index_name, schema)

    def get_foreign_keys(self, connection: Connection, table_name: str,
                         schema: str | None = None) -> list[dict[str, Any]]:
        return pg_ddl.get_foreign_keys(connection, table_name, schema)

    def get_enums(self, connection: Connection, schema: str | None = None) -> list[dict[str, Any]]:
        """Enum types (``name``, ``schema``, ``visible``, ``labels``)."""
        return pg_ddl.get_enums(connection, schema)
