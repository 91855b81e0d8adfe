"""INSERT, UPDATE and DELETE statements.

A DML statement keeps the target as given (``_raw_table``: a Table or a
mapped class, which the ORM interprets) and its Core ``table``.  Values set
with ``.values()`` become bound parameters named after the column key (or
``key_m<N>`` for the rows of a multi-row insert); columns not given a value
are taken from the execution parameters' keys at compile time.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from docket import exc
from docket.sql.base import ColumnCollection, Executable
from docket.sql.elements import (
    BindParameter,
    ClauseElement,
    ColumnClause,
    ColumnElement,
    coerce_expression,
    coerce_where,
)
from docket.sql.selectable import Alias, FromClause, Select, _attr_of, coerce_from

__all__ = ["Delete", "Insert", "OnConflictInsert", "Update", "delete", "insert", "update"]


def _column_key(table: FromClause, key: Any) -> str:
    if isinstance(key, str):
        if key not in table.c:
            raise exc.ArgumentError(
                f"Unconsumed column name {key!r}: table {table.name!r} has columns "
                f"{table.c.keys()}."
            )
        return key
    ce = getattr(key, "__clause_element__", None)
    col = ce() if ce is not None else key
    if isinstance(col, ColumnClause) and table.c.contains_column(col):
        return col.key  # type: ignore[return-value]
    raise exc.ArgumentError(f"{key!r} is not a column of table {table.name!r}")


def _is_column_attr(entity: Any, key: str) -> bool:
    """Whether ``entity.key`` is a class attribute that stands for a column."""
    attr = getattr(entity, key, None)
    return attr is not None and hasattr(attr, "__clause_element__") and isinstance(
        attr.__clause_element__(), ColumnClause)


class _DMLBase(Executable, ClauseElement):
    is_dml = True
    is_selectable = True
    _returning: tuple[ColumnElement, ...] = ()
    _returning_raw: tuple[Any, ...] = ()
    _return_defaults = False

    def __init__(self, table: Any) -> None:
        self._raw_table = table
        self.table: FromClause = coerce_from(table)
        if isinstance(self.table, Alias) and not isinstance(self.table.element, FromClause):
            raise exc.ArgumentError("DML needs a table, not a subquery.")

    def returning(self, *cols: Any) -> Any:
        """Add a RETURNING clause (tables/mapped classes expand to columns)."""
        new = self._generate()
        out: list[ColumnElement] = []
        for c in cols:
            sel = c if isinstance(c, FromClause) else None
            if sel is None and not isinstance(c, ClauseElement):
                ce = getattr(c, "__clause_element__", None)
                el = ce() if ce is not None else None
                if isinstance(el, FromClause):
                    sel = el
            if sel is not None:
                out.extend(sel.c)
            else:
                out.append(coerce_expression(c))
        new._returning = self._returning + tuple(out)
        new._returning_raw = self._returning_raw + cols
        return new

    def return_defaults(self, *cols: Any) -> Any:
        new = self._generate()
        new._return_defaults = True
        return new

    @property
    def _raw_entities(self) -> tuple[Any, ...]:
        return self._returning_raw

    def _exported_column_list(self) -> list[ColumnElement]:
        return list(self._returning)

    @property
    def selected_columns(self) -> ColumnCollection[Any]:
        return ColumnCollection([(c.key or f"col{i}", c) for i, c in enumerate(self._returning)])


class _ValuesBase(_DMLBase):
    # single-row values: column key -> expression (BindParameter for literals)
    _values: dict[str, ClauseElement] | None = None
    # multi-row VALUES: list of the above
    _multi_values: list[dict[str, ClauseElement]] | None = None

    def _coerce_row(self, row: dict[Any, Any], suffix: str = "") -> dict[str, ClauseElement]:
        out: dict[str, ClauseElement] = {}
        entity = self._raw_table if self._raw_table is not self.table else None
        for key, value in row.items():
            if entity is not None and isinstance(key, str):
                # ORM-enabled DML: a mapped attribute name wins over a column name
                key = getattr(entity, key, None) if _is_column_attr(entity, key) else key
            ckey = _column_key(self.table, key)
            col = self.table.c[ckey]
            if isinstance(value, ClauseElement) or hasattr(value, "__clause_element__"):
                out[ckey] = coerce_expression(value)
                if getattr(value, "is_selectable", False) and hasattr(value, "scalar_subquery"):
                    out[ckey] = value.scalar_subquery()
            else:
                out[ckey] = BindParameter(ckey + suffix, value, type_=col.type)
        return out

    def values(self, *args: Any, **kw: Any) -> Any:
        """Set values: ``values(name="x")``, ``values({"name": "x"})`` or, for
        a multi-row INSERT, ``values([{...}, {...}])``."""
        new = self._generate()
        if args:
            if len(args) > 1 or kw:
                raise exc.ArgumentError(
                    "values() takes one dict, one list of dicts, or keyword arguments."
                )
            arg = args[0]
            if isinstance(arg, (list, tuple)) and arg and isinstance(arg[0], (dict, list, tuple)):
                if not isinstance(self, Insert):
                    raise exc.ArgumentError("Multiple-row values() is for INSERT only.")
                rows = [
                    r if isinstance(r, dict) else dict(zip(self.table.c.keys(), r)) for r in arg
                ]
                new._multi_values = (self._multi_values or []) + [
                    new._coerce_row(r, f"_m{i}")
                    for i, r in enumerate(rows, start=len(self._multi_values or []))
                ]
                return new
            if isinstance(arg, dict):
                kw = arg
            elif isinstance(arg, (list, tuple)):
                kw = dict(zip(self.table.c.keys(), arg))
            else:
                raise exc.ArgumentError(f"values() got {arg!r}; expected a dict or a list of dicts")
        if new._multi_values:
            raise exc.ArgumentError("Can't mix single-row and multi-row values().")
        new._values = {**(self._values or {}), **self._coerce_row(kw)}
        return new

    def _values_ck(self, binds: list[BindParameter]) -> Any:
        single = None
        if self._values is not None:
            single = tuple((k, v._ck(binds)) for k, v in self._values.items())
        multi = None
        if self._multi_values is not None:
            multi = tuple(
                tuple((k, v._ck(binds)) for k, v in row.items()) for row in self._multi_values
            )
        return single, multi


class Insert(_ValuesBase):
    """``INSERT INTO table (cols) VALUES (...)``."""

    __visit_name__ = "insert"
    _from_select: tuple[list[str], Select] | None = None
    _inline = False
    _post_values_clause: Any = None

    def from_select(self, names: Sequence[Any], select: Any, include_defaults: bool = True) -> Insert:
        """``INSERT INTO table (names) SELECT ...``."""
        new = self._generate()
        new._from_select = ([_column_key(self.table, n) for n in names], select)
        return new

    def inline(self) -> Insert:
        new = self._generate()
        new._inline = True
        return new

    def _ck(self, binds: list[BindParameter]) -> tuple[Any, ...]:
        return (
            "insert",
            self.table._ck(binds),
            self._values_ck(binds),
            tuple(r._ck(binds) for r in self._returning),
            None if self._from_select is None else (
                tuple(self._from_select[0]), self._from_select[1]._ck(binds)
            ),
            self._post_values_clause._ck(binds) if self._post_values_clause is not None else None,
            self._return_defaults,
        )


class _WhereMixin:
    _where: tuple[ColumnElement, ...] = ()

    def where(self, *criteria: Any) -> Any:
        new = self._generate()  # type: ignore[attr-defined]
        new._where = self._where + tuple(coerce_where(c) for c in criteria)
        return new

    filter = where

    def filter_by(self, **kw: Any) -> Any:
        entity = self._raw_table  # type: ignore[attr-defined]
        if not isinstance(entity, FromClause) and not hasattr(entity, "__mapper__"):
            entity = self.table  # type: ignore[attr-defined]
        return self.where(*[_attr_of(entity, k) == v for k, v in kw.items()])


class Update(_WhereMixin, _ValuesBase):
    """``UPDATE table SET ... WHERE ...``."""

    __visit_name__ = "update"

    def _ck(self, binds: list[BindParameter]) -> tuple[Any, ...]:
        return (
            "update",
            self.table._ck(binds),
            self._values_ck(binds),
            tuple(w._ck(binds) for w in self._where),
            tuple(r._ck(binds) for r in self._returning),
            self._return_defaults,
        )


class Delete(_WhereMixin, _DMLBase):
    """``DELETE FROM table WHERE ...``."""

    __visit_name__ = "delete"

    def _ck(self, binds: list[BindParameter]) -> tuple[Any, ...]:
        return (
            "delete",
            self.table._ck(binds),
            tuple(w._ck(binds) for w in self._where),
            tuple(r._ck(binds) for r in self._returning),
        )


def insert(table: Any) -> Insert:
    """``INSERT`` into a Table or mapped class."""
    return Insert(table)


def update(table: Any) -> Update:
    """``UPDATE`` a Table or mapped class."""
    return Update(table)


def delete(table: Any) -> Delete:
    """``DELETE`` from a Table or mapped class."""
    return Delete(table)


# --- ON CONFLICT (PostgreSQL and SQLite share the syntax) ------------------------


class OnConflictClause(ClauseElement):
    """``ON CONFLICT [(cols) [WHERE ...] | ON CONSTRAINT name] DO NOTHING | DO UPDATE``."""

    __visit_name__ = "on_conflict"

    def __init__(
        self, table: FromClause, *, constraint: Any = None,
        index_elements: Sequence[Any] | None = None, index_where: Any = None,
        set_: dict[Any, Any] | None = None, where: Any = None, do_update: bool,
    ) -> None:
        self.table = table
        self.constraint_name = getattr(constraint, "name", constraint)
        if constraint is not None and index_elements is None and not isinstance(constraint, str):
            index_elements = list(getattr(constraint, "columns", []))
            self.constraint_name = None if index_elements else self.constraint_name
        self.index_elements = [
            table.c[e] if isinstance(e, str) else coerce_expression(e)
            for e in (index_elements or [])
        ]
        self.index_where = coerce_where(index_where) if index_where is not None else None
        self.do_update = do_update
        if do_update and not set_:
            raise exc.ArgumentError("on_conflict_do_update() needs set_={column: value, ...}")
        self.set_: list[tuple[str, ClauseElement]] = []
        for key, value in (set_ or {}).items():
            ckey = _column_key(table, key)
            expr = (
                coerce_expression(value)
                if isinstance(value, ClauseElement) or hasattr(value, "__clause_element__")
                else BindParameter(None, value, type_=table.c[ckey].type, unique=True)
            )
            self.set_.append((ckey, expr))
        self.where = coerce_where(where) if where is not None else None

    def _ck(self, binds: list[BindParameter]) -> tuple[Any, ...]:
        return (
            "on_conflict",
            self.constraint_name,
            tuple(e._ck(binds) for e in self.index_elements),
            self.index_where._ck(binds) if self.index_where is not None else None,
            self.do_update,
            tuple((k, v._ck(binds)) for k, v in self.set_),
            self.where._ck(binds) if self.where is not None else None,
        )


class OnConflictInsert(Insert):
    """An INSERT with PostgreSQL / SQLite ``ON CONFLICT`` support; obtained
    from ``docket.dialects.postgresql.insert`` or ``docket.dialects.sqlite.insert``."""

    @property
    def excluded(self) -> ColumnCollection[Any]:
        """The row proposed for insertion: ``stmt.excluded.name``."""
        return Alias(self.table, "excluded").c

    def on_conflict_do_nothing(
        self, constraint: Any = None, index_elements: Sequence[Any] | None = None,
        index_where: Any = None,
    ) -> OnConflictInsert:
        new = self._generate()
        new._post_values_clause = OnConflictClause(
            self.table, constraint=constraint, index_elements=index_elements,
            index_where=index_where, do_update=False,
        )
        return new

    def on_conflict_do_update(
        self, constraint: Any = None, index_elements: Sequence[Any] | None = None,
        index_where: Any = None, set_: dict[Any, Any] | None = None, where: Any = None,
    ) -> OnConflictInsert:
        if constraint is None and not index_elements:
            raise exc.ArgumentError(
                "on_conflict_do_update() needs index_elements=[...] or constraint=... to "
                "say which unique key conflicts."
            )
        new = self._generate()
        new._post_values_clause = OnConflictClause(
            self.table, constraint=constraint, index_elements=index_elements,
            index_where=index_where, set_=set_, where=where, do_update=True,
        )
        return new
