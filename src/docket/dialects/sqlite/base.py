"""SQLite: compiler overrides and dialect capabilities (driver-independent)."""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING, Any

from docket.dialects.sqlite import ddl as sqlite_ddl
from docket.dialects.sqlite.types import SQLiteTypeCompiler, colspecs
from docket.engine.default import DefaultDialect
from docket.sql import elements as el
from docket.sql.compiler import SQLCompiler
from docket.sql.functions import Function

if TYPE_CHECKING:
    from docket.engine.base import Connection

__all__ = ["SQLiteCompiler", "SQLiteDialect"]


class SQLiteCompiler(SQLCompiler):
    """SQLite SQL: no FOR UPDATE, ``IS``/``IS NOT`` for distinctness, ILIKE via
    lower(), ``now()`` as ``CURRENT_TIMESTAMP``."""

    def render_for_update(self, opts: dict[str, Any], **kw: Any) -> str:
        return ""  # SQLite locks the whole database; there is no row locking

    def visit_now_func(self, fn: Function, **kw: Any) -> str:
        # SQLite has no now(); CURRENT_TIMESTAMP is the UTC time as
        # 'YYYY-MM-DD HH:MM:SS' (also valid in DEFAULT (...) for server_default)
        return "CURRENT_TIMESTAMP"

    def visit_is_distinct_from_binary(self, b: el.BinaryExpression, **kw: Any) -> str:
        return self.process(b.left, **kw) + " IS NOT " + self.process(b.right, **kw)

    def visit_is_not_distinct_from_binary(self, b: el.BinaryExpression, **kw: Any) -> str:
        return self.process(b.left, **kw) + " IS " + self.process(b.right, **kw)


class SQLiteDialect(DefaultDialect):
    """SQLite capabilities.  RETURNING needs SQLite ≥ 3.35; the version of the
    linked library is checked once, at class creation."""

    name = "sqlite"
    statement_compiler = SQLiteCompiler
    ddl_compiler = sqlite_ddl.SQLiteDDLCompiler
    type_compiler_cls = SQLiteTypeCompiler
    colspecs = colspecs
    isolation_levels = frozenset({"SERIALIZABLE", "READ UNCOMMITTED", "AUTOCOMMIT"})

    _returning = sqlite3.sqlite_version_info >= (3, 35)
    insert_returning = _returning
    update_returning = _returning
    delete_returning = _returning
    insert_executemany_returning = False
    # a single-row INSERT learns its key from cursor.lastrowid: cheaper than RETURNING
    implicit_returning = False
    supports_multivalues_insert = True
    # SQLITE_MAX_VARIABLE_NUMBER: 999 before 3.32, 32766 since
    insertmanyvalues_max_parameters = 32766 if sqlite3.sqlite_version_info >= (3, 32) else 999
    supports_native_boolean = False
    supports_native_decimal = False
    supports_sequences = False
    supports_alter = False
    supports_for_update = False
    supports_on_conflict = sqlite3.sqlite_version_info >= (3, 24)
    limit_required_for_offset = True
    # SQLite refuses ``(SELECT ... LIMIT n) UNION ...``: such members are
    # wrapped as ``SELECT * FROM (SELECT ...)`` instead
    compound_member_parens = False
    supports_sane_rowcount = True
    supports_sane_multi_rowcount = True

    def has_table(self, connection: Connection, table_name: str,
                  schema: str | None = None) -> bool:
        return sqlite_ddl.has_table(connection, table_name, schema)

    def get_table_names(self, connection: Connection, schema: str | None = None) -> list[str]:
        return sqlite_ddl.get_table_names(connection, schema)

    def has_index(self, connection: Connection, table_name: str, index_name: str,
                  schema: str | None = None) -> bool:
        return sqlite_ddl.has_index(connection, table_name, index_name, schema)

    def get_foreign_keys(self, connection: Connection, table_name: str,
                         schema: str | None = None) -> list[dict[str, Any]]:
        return sqlite_ddl.get_foreign_keys(connection, table_name, schema)
