"""SQLite DDL: the DDL compiler and the catalog queries DDL needs.

SQLite specifics honoured here:

* an ``INTEGER`` primary key is written ``id INTEGER NOT NULL`` plus a
  table-level ``PRIMARY KEY (id)``, which still makes it the rowid alias
  (auto-numbered); ``sqlite_autoincrement=True`` on the Table renders
  ``PRIMARY KEY AUTOINCREMENT`` inline instead (never-reused ids);
* SQLite has no ``ALTER TABLE ADD CONSTRAINT`` (the dialect sets
  ``supports_alter = False``), so foreign keys on a cycle stay inline: SQLite
  does not check referenced tables at CREATE time;
* a foreign key to a table in another (attached) schema is omitted, as
  SQLite cannot enforce it; index names, not table names, carry the schema;
* expression defaults are parenthesised (``DEFAULT (CURRENT_TIMESTAMP)``);
* table options ``sqlite_with_rowid=False`` and ``sqlite_strict=True``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from docket import exc
from docket.sql import types as sqltypes
from docket.sql.ddl import CreateIndex, DDLCompiler
from docket.sql.elements import TextClause
from docket.sql.schema import (
    Column,
    DefaultClause,
    ForeignKeyConstraint,
    PrimaryKeyConstraint,
    Table,
)

if TYPE_CHECKING:
    from docket.engine.base import Connection

__all__ = [
    "SQLiteDDLCompiler",
    "get_foreign_keys",
    "get_table_names",
    "has_index",
    "has_table",
]


class SQLiteDDLCompiler(DDLCompiler):
    """DDL compiler for SQLite (see the module docstring)."""

    def _inline_autoincrement(self, column: Column) -> bool:
        """True when ``column`` gets ``PRIMARY KEY AUTOINCREMENT`` inline."""
        table = column.table
        if table is None or not table.dialect_kwargs.get("sqlite_autoincrement"):
            return False
        pk = list(table.primary_key.columns)
        return (
            len(pk) == 1 and pk[0] is column and not column.foreign_keys
            and issubclass(column.type._type_affinity, sqltypes.Integer)
        )

    def get_column_specification(self, column: Column, first_pk: bool = False) -> str:
        text = self.format_column(column) + " " + self.column_type(column)
        default = self.get_column_default_string(column)
        if default is not None:
            arg = column.server_default.arg if isinstance(column.server_default, DefaultClause) else None
            if arg is not None and not isinstance(arg, (str, TextClause)):
                default = "(" + default + ")"
            text += " DEFAULT " + default
        if not column.nullable:
            text += " NOT NULL"
        table = column.table
        if column.primary_key and table is not None:
            if column.autoincrement is True and len(table.primary_key.columns) != 1:
                raise exc.CompileError(
                    f"SQLite does not support autoincrement for composite primary keys "
                    f"(table '{table.fullname}'); drop autoincrement=True or use a single-column "
                    "key"
                )
            if self._inline_autoincrement(column):
                text += " PRIMARY KEY AUTOINCREMENT"
        if column.computed is not None:
            text += " " + self.visit_computed_column(column.computed)
        return text

    def visit_primary_key_constraint(self, c: PrimaryKeyConstraint, table: Any) -> str | None:
        cols = list(c.columns)
        if len(cols) == 1 and self._inline_autoincrement(cols[0]):
            return None  # rendered inline with the column
        return super().visit_primary_key_constraint(c, table)

    def visit_foreign_key_constraint(self, c: ForeignKeyConstraint, table: Any) -> str | None:
        if c.referred_table.schema != table.schema:
            return None  # SQLite can't reference a table in another database
        return super().visit_foreign_key_constraint(c, table)

    def define_constraint_remote_table(self, c: ForeignKeyConstraint, remote: Table) -> str:
        return self.format_table(remote, use_schema=False)

    def post_create_table(self, table: Table) -> str:
        options = []
        if table.dialect_kwargs.get("sqlite_with_rowid", True) is False:
            options.append("WITHOUT ROWID")
        if table.dialect_kwargs.get("sqlite_strict"):
            options.append("STRICT")
        return " " + ", ".join(options) if options else ""

    def visit_create_index(self, create: CreateIndex, **kw: Any) -> str:
        index = self._index(create.element)
        text = "CREATE " + ("UNIQUE " if index.unique else "") + "INDEX "
        text += "IF NOT EXISTS " if create.if_not_exists else ""
        text += self.format_index(index, use_schema=True) + " ON "
        text += self.format_table(index.table, use_schema=False)
        text += " (" + self.index_expressions(index) + ")"
        where = index.dialect_kwargs.get("sqlite_where")
        if where is not None:
            text += " WHERE " + self.render_expression(where)
        return text


# --- catalog queries ---------------------------------------------------------------


def _quote(ident: str) -> str:
    return '"' + ident.replace('"', '""') + '"'


def _masters(schema: str | None) -> list[str]:
    """The catalog tables to search: main and temp, or the named schema's."""
    if schema is None:
        return ["main.sqlite_master", "sqlite_temp_master"]
    if schema.lower() == "temp":
        return ["sqlite_temp_master"]
    return [_quote(schema) + ".sqlite_master"]


def _has(connection: Connection, types: str, name: str, schema: str | None) -> bool:
    # SQLite identifiers are ASCII case-insensitive, and so is NOCASE
    for master in _masters(schema):
        sql = f"SELECT 1 FROM {master} WHERE type IN ({types}) AND name = ? COLLATE NOCASE"
        if connection.exec_driver_sql(sql, (name,)).scalar() is not None:
            return True
    return False


def has_table(connection: Connection, table_name: str, schema: str | None = None) -> bool:
    """True if a table or view of this name exists (temp tables included
    when ``schema`` is None)."""
    return _has(connection, "'table', 'view'", table_name, schema)


def has_index(connection: Connection, table_name: str, index_name: str,
              schema: str | None = None) -> bool:
    """True if an index of this name exists (``table_name`` is not needed
    by SQLite, whose index names are unique per database)."""
    return _has(connection, "'index'", index_name, schema)


def get_table_names(connection: Connection, schema: str | None = None) -> list[str]:
    """Names of the tables in ``schema`` (default: main), sorted, without
    SQLite's own ``sqlite_*`` tables."""
    master = _quote(schema) + ".sqlite_master" if schema is not None else "main.sqlite_master"
    if schema is not None and schema.lower() == "temp":
        master = "sqlite_temp_master"
    sql = (
        f"SELECT name FROM {master} WHERE type = 'table' "
        "AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name"
    )
    return [str(n) for n in connection.exec_driver_sql(sql).scalars().all()]


def get_foreign_keys(connection: Connection, table_name: str,
                     schema: str | None = None) -> list[dict[str, Any]]:
    """The table's foreign keys as dicts (``name`` (always None: SQLite does
    not report it), ``constrained_columns``, ``referred_schema``,
    ``referred_table``, ``referred_columns``)."""
    prefix = _quote(schema) + "." if schema is not None else ""
    rows = connection.exec_driver_sql(
        f"PRAGMA {prefix}foreign_key_list({_quote(table_name)})"
    ).all()
    by_id: dict[int, dict[str, Any]] = {}
    for row in rows:  # id, seq, table, from, to, on_update, on_delete, match
        fk = by_id.setdefault(row[0], {
            "name": None, "constrained_columns": [], "referred_schema": schema,
            "referred_table": row[2], "referred_columns": [],
        })
        fk["constrained_columns"].append(row[3])
        fk["referred_columns"].append(row[4])
    return [by_id[k] for k in sorted(by_id)]
