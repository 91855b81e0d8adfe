"""DML rendering: INSERT (single row, multi-row, from SELECT), UPDATE,
DELETE, ON CONFLICT, RETURNING, and the defaults the engine fills in
(``prefetch``) or reads back (``postfetch``, implicit RETURNING).

Part of the statement compiler; see :mod:`docket.sql.compiler_base` for how
the parts fit together.  Dialects override :meth:`DMLCompiler.update_from_clause`,
:meth:`DMLCompiler.delete_extra_from_clause` and
:meth:`DMLCompiler.default_values_clause`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from docket import exc
from docket.sql import elements as el
from docket.sql.compiler_base import CompilerBase, _result_key
from docket.sql.selectable import Exists, FromClause

if TYPE_CHECKING:
    from docket.sql.schema import Column

__all__ = ["DMLCompiler"]


class DMLCompiler(CompilerBase):
    """Renders INSERT, UPDATE and DELETE statements."""

    def _returning_text(self, returning: Sequence[el.ColumnElement], toplevel: bool) -> str:
        if not returning:
            return ""
        self.returning = list(returning)
        if toplevel:
            self.result_columns = [(_result_key(c, c.key), c.type) for c in returning]
            self.result_column_objects = list(returning)
        parts = []
        for c in returning:
            if isinstance(c, el.Label):
                parts.append(self.process(c.element) + " AS " + self._q(c.name))
            else:
                parts.append(self.process(c))
        return " RETURNING " + ", ".join(parts)

    def _bind_for_column(self, col: Column, for_update: bool = False) -> str:
        """The placeholder for a column whose value comes from the execution
        parameters.  Required: in an executemany every dict must give it --
        unless the column has a Python-side default (``onupdate`` for an
        UPDATE), which the engine then computes for the dicts that omit it."""
        bind = el.BindParameter(col.key, None, type_=col.type, required=True)
        placeholder = self.process(bind)
        default = col.onupdate if for_update else col.default
        if self.for_executemany and default is not None and not getattr(
            default, "is_sequence", False
        ) and not default.is_clause_element:
            self.prefetch.append((self.bind_names[bind], col, for_update))
        return placeholder

    def _check_keys(self, stmt: Any, table: Any) -> None:
        """Execution parameter keys must name columns or bind parameters.

        Raises:
            CompileError: a key names neither (usually a typo).
        """
        if not self.column_keys:
            return
        consumed = set(table.c.keys())
        _, binds = stmt._generate_cache_key()
        consumed.update(b.key for b in binds if not b.unique)
        unknown = self.column_keys - consumed
        if unknown:
            raise exc.CompileError(
                f"Unconsumed column names: {', '.join(sorted(unknown))} -- table "
                f"{table.name!r} has no such columns and the statement no such bind "
                "parameters; check the execute() parameter keys."
            )

    def visit_insert(self, stmt: Any, toplevel: bool = False, **kw: Any) -> str:
        self.isinsert = True
        table = stmt.table
        text = "INSERT INTO " + self.dialect.format_table(table)
        if stmt._from_select is not None:
            names, sel = stmt._from_select
            text += " (" + ", ".join(self._q(table.c[n].name) for n in names) + ") "
            text += self.process(sel, nested=True)
            return text + self._insert_tail(stmt, toplevel, [])
        if stmt._multi_values:
            return text + self._insert_multi(stmt, toplevel)
        self._check_keys(stmt, table)
        cols: list[Column] = []
        values: list[str] = []
        given = stmt._values or {}
        keys = self.column_keys or frozenset()
        all_columns = self._insert_all_columns and not given
        autoinc = getattr(table, "autoincrement_column", None)
        for c in table.c:
            if c.key in given:
                cols.append(c)
                values.append(self._value_text(given[c.key]))
            elif c.key in keys or all_columns:
                cols.append(c)
                values.append(self._bind_for_column(c))
            elif self._client_default(c):
                cols.append(c)
                values.append(self._default_value(c, "", for_update=False))
            elif c.server_default is not None or c is autoinc:
                self._add_postfetch(c)
        if not cols:
            text += self.default_values_clause()
        else:
            text += " (" + ", ".join(self._q(c.name) for c in cols) + ") VALUES ("
            text += ", ".join(values) + ")"
        return text + self._insert_tail(stmt, toplevel, cols)

    def _insert_multi(self, stmt: Any, toplevel: bool) -> str:
        rows = stmt._multi_values
        table = stmt.table
        present: set[str] = set()
        for row in rows:
            present.update(row)
        cols = [c for c in table.c if c.key in present or self._client_default(c)]
        rendered_rows = []
        for i, row in enumerate(rows):
            vals = []
            for c in cols:
                if c.key in row:
                    vals.append(self._value_text(row[c.key]))
                elif self._client_default(c):
                    vals.append(self._default_value(c, f"_m{i}", for_update=False))
                else:
                    raise exc.CompileError(
                        f"Row {i} of this multi-row INSERT into {table.name!r} has no value "
                        f"for column {c.key!r}, which other rows give; every row must give "
                        "the same columns (or the column needs a Python-side default)."
                    )
            rendered_rows.append("(" + ", ".join(vals) + ")")
        text = " (" + ", ".join(self._q(c.name) for c in cols) + ") VALUES "
        text += ", ".join(rendered_rows)
        return text + self._insert_tail(stmt, toplevel, cols)

    def _value_text(self, value: Any) -> str:
        text = self.process(value)
        if isinstance(value, el.BinaryExpression) or (
            isinstance(value, el.UnaryExpression) and value.operator is not None
            and not isinstance(value, Exists)
        ):
            return "(" + text + ")"
        return text

    def default_values_clause(self) -> str:
        return " DEFAULT VALUES"

    def _insert_tail(self, stmt: Any, toplevel: bool, cols: list[Column]) -> str:
        text = ""
        if stmt._post_values_clause is not None:
            text += " " + self.process(stmt._post_values_clause)
        returning = list(stmt._returning)
        table = stmt.table
        if not returning and toplevel and self.dialect.insert_returning and (
            self.dialect.implicit_returning
        ) and not self.for_executemany and not stmt._multi_values and (
            stmt._from_select is None
        ) and getattr(table, "implicit_returning", False):
            given = {id(c) for c in cols}
            fetched = {id(c) for c in self.postfetch}
            pk_missing = [c for c in table.primary_key if id(c) not in given or id(c) in fetched]
            if pk_missing or stmt._return_defaults:
                returning = list(table.primary_key)
                if stmt._return_defaults:
                    returning += [c for c in self.postfetch if c not in returning]
                self.implicit_returning = list(table.primary_key)
        returned = {id(c) for c in returning}
        self.postfetch = [c for c in self.postfetch if id(c) not in returned]
        return text + self._returning_text(returning, toplevel)

    def _add_postfetch(self, c: Column) -> None:
        if all(p is not c for p in self.postfetch):
            self.postfetch.append(c)

    def _client_default(self, c: Column) -> bool:
        d = c.default
        if d is None:
            return False
        if getattr(d, "is_sequence", False):
            return bool(self.dialect.supports_sequences)
        return True

    def _default_value(self, c: Column, suffix: str, for_update: bool) -> str:
        d = c.onupdate if for_update else c.default
        if getattr(d, "is_sequence", False):
            self._add_postfetch(c)
            return self.process(d.next_value())
        if d.is_clause_element:
            self._add_postfetch(c)
            return self._value_text(d.arg)
        name = self._bind_name(
            el.BindParameter(f"{c.key}{suffix}", None, type_=c.type, required=False, unique=False)
        )
        self.prefetch.append((name, c, for_update))
        return self._placeholder(name)

    def visit_on_conflict(self, oc: Any, **kw: Any) -> str:
        if not self.dialect.supports_on_conflict:
            raise exc.CompileError(
                f"ON CONFLICT is not supported by the {self.dialect.name} dialect (SQLite "
                "needs 3.24 or later)."
            )
        text = "ON CONFLICT"
        if oc.constraint_name:
            text += " ON CONSTRAINT " + self._q(oc.constraint_name)
        elif oc.index_elements:
            text += " (" + ", ".join(
                self.process(e, include_table=False) for e in oc.index_elements
            ) + ")"
            if oc.index_where is not None:
                text += " WHERE " + self.process(oc.index_where, include_table=False)
        if not oc.do_update:
            return text + " DO NOTHING"
        sets = ", ".join(
            self._q(oc.table.c[k].name) + " = " + self._value_text(v) for k, v in oc.set_
        )
        text += " DO UPDATE SET " + sets
        if oc.where is not None:
            text += " WHERE " + self.process(oc.where)
        return text

    def visit_update(self, stmt: Any, toplevel: bool = False, **kw: Any) -> str:
        self.isupdate = True
        table = stmt.table
        given = stmt._values or {}
        # bind keys already used in WHERE are criteria, not SET columns
        where_keys: set[str] = set()
        for w in stmt._where:
            _, wb = w._generate_cache_key()
            where_keys.update(b.key for b in wb if not b.unique)
        self._check_keys(stmt, table)
        clash = where_keys & {
            k for k, v in given.items()
            if isinstance(v, el.BindParameter) and not v.unique and v.key == k
        }
        if clash:
            raise exc.CompileError(
                f"bindparam() name(s) {sorted(clash)} are used in the WHERE clause of this "
                f"UPDATE of {table.name!r} and also name the SET values of those columns; "
                "use a bindparam name other than the column name in WHERE."
            )
        keys = (self.column_keys or frozenset()) - where_keys
        extra = self._extra_froms(stmt)
        self._push_frame([table, *extra])
        try:
            sets: list[tuple[Column, str]] = []
            for c in table.c:
                if c.key in given:
                    sets.append((c, self._value_text(given[c.key])))
                elif c.key in keys:
                    sets.append((c, self._bind_for_column(c, for_update=True)))
                elif c.onupdate is not None:
                    sets.append((c, self._default_value(c, "", for_update=True)))
                elif c.server_onupdate is not None:
                    self._add_postfetch(c)
            if not sets:
                raise exc.CompileError(
                    f"UPDATE of table {table.name!r} has no SET values: give .values(...) or "
                    "execution parameters naming columns."
                )
            text = "UPDATE " + self.dialect.format_table(table) + " SET " + ", ".join(
                self._q(c.name) + "=" + v for c, v in sets
            )
            if extra:
                text += self.update_from_clause(extra, **kw)
            text += self._where_text(stmt._where, **kw)
        finally:
            self._stack.pop()
        returned = {id(c) for c in stmt._returning}
        self.postfetch = [c for c in self.postfetch if id(c) not in returned]
        return text + self._returning_text(stmt._returning, toplevel)

    def _extra_froms(self, stmt: Any) -> list[FromClause]:
        """Tables the WHERE clause reads besides the statement's own table."""
        own = stmt.table
        found: list[FromClause] = []
        for w in stmt._where:
            for f in w._from_objects:
                if f is not own and f not in found and not own.is_derived_from(f):
                    found.append(f)
        hidden = [h for f in found for h in f._hide_froms]
        return [f for f in found if f not in hidden]

    def update_from_clause(self, froms: Sequence[FromClause], **kw: Any) -> str:
        """``UPDATE ... FROM other`` (PostgreSQL, SQLite >= 3.33)."""
        return " FROM " + ", ".join(self.process(f, asfrom=True, **kw) for f in froms)

    def delete_extra_from_clause(self, froms: Sequence[FromClause], **kw: Any) -> str:
        """Other tables in a DELETE's WHERE; no portable syntax exists.

        Raises:
            CompileError: always, in the generic compiler.
        """
        names = ", ".join(repr(getattr(f, "name", f)) for f in froms)
        raise exc.CompileError(
            f"This DELETE's WHERE clause reads other tables ({names}), which the "
            f"{self.dialect.name} dialect cannot express; use a subquery instead, e.g. "
            "table.c.id.in_(select(...))."
        )

    def visit_delete(self, stmt: Any, toplevel: bool = False, **kw: Any) -> str:
        self.isdelete = True
        text = "DELETE FROM " + self.dialect.format_table(stmt.table)
        extra = self._extra_froms(stmt)
        self._push_frame([stmt.table, *extra])
        try:
            if extra:
                text += self.delete_extra_from_clause(extra, **kw)
            text += self._where_text(stmt._where, **kw)
        finally:
            self._stack.pop()
        return text + self._returning_text(stmt._returning, toplevel)
